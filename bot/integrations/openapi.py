"""The callback endpoint's OpenAPI description, served at GET /hooks/openapi.json.

Kept by hand beside the code it describes; tests fuzz the endpoint from it (schemathesis) and
check that its examples are what `answers.parse_report` accepts.
"""

from __future__ import annotations

from typing import Any, Final

_ERROR: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string", "description": "What was wrong, in a sentence."}},
}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


CALLBACK_OPENAPI: Final[dict[str, Any]] = {
    "openapi": "3.0.3",
    "info": {
        "title": "Baton hook callbacks",
        "version": "1",
        "description": (
            'An integration that answered a hook call with 202 (or {"status": "accepted"}) '
            "reports the step's outcome here, at the `callback_url` Baton sent it. Sign the "
            "request like Baton signs its calls: `X-Baton-Signature: v1=<hex HMAC-SHA256("
            'secret, "<timestamp>.<body>")>` with the Unix time in `X-Baton-Timestamp`, '
            "within 5 minutes of Baton's clock."
        ),
    },
    "paths": {
        "/hooks/callback/{token}": {
            "post": {
                "operationId": "reportHookOutcome",
                "summary": "Report that a hook step is done or failed",
                "parameters": [
                    {
                        "name": "token",
                        "in": "path",
                        "required": True,
                        "description": "The last segment of the callback_url Baton sent.",
                        "schema": {"type": "string"},
                    },
                    {
                        "name": "X-Baton-Timestamp",
                        "in": "header",
                        "required": True,
                        "description": "Unix seconds when the callback was signed.",
                        "schema": {"type": "string"},
                    },
                    {
                        "name": "X-Baton-Signature",
                        "in": "header",
                        "required": True,
                        "description": 'v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>',
                        "schema": {"type": "string"},
                    },
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/Report"},
                            "examples": {
                                "done": {"value": {"status": "done", "output": {"login": "ana"}}},
                                "failed": {
                                    "value": {"status": "failed", "message": "No seat left"}
                                },
                            },
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "The outcome was recorded.",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/Recorded"}
                            }
                        },
                    },
                    "400": _error("The body is malformed; the error says how."),
                    "401": _error("The signature or timestamp is missing, wrong or stale."),
                    "404": _error("No such callback (an unknown or mistyped token)."),
                    "409": _error(
                        "The step already finished, or a newer call replaced this "
                        "one; nothing was changed."
                    ),
                    "413": _error("The body is larger than 64 KiB."),
                    "503": _error("Baton cannot read the integration's secret right now."),
                },
            }
        }
    },
    "components": {
        "schemas": {
            "Report": {
                "type": "object",
                "required": ["status"],
                "additionalProperties": False,
                "properties": {
                    "status": {"type": "string", "enum": ["done", "failed"]},
                    "output": {
                        "type": "object",
                        "description": "What later steps may show as "
                        "{steps.<id>.output.<key>}; at most 16 KiB as JSON.",
                        "additionalProperties": True,
                    },
                    "message": {
                        "type": "string",
                        "description": "Why the step failed; shown to the run's owner.",
                        "maxLength": 1000,
                    },
                },
            },
            "Recorded": {
                "type": "object",
                "required": ["run", "step", "state"],
                "properties": {
                    "run": {"type": "string"},
                    "step": {"type": "string"},
                    "state": {"type": "string", "enum": ["done", "failed"]},
                },
            },
            "Error": _ERROR,
        }
    },
}
