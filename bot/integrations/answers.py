"""What an integration says, both in the answer to a call and in a callback, read strictly.

The JSON is parsed the way databases and Slack will need it later: no NaN or Infinity, no NUL
characters or unpaired surrogates in strings, an output that is a JSON object of bounded size.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

MAX_OUTPUT_BYTES = 16_384
MAX_MESSAGE = 1_000
MAX_DEPTH = 20


class Malformed(ValueError):
    """A body that does not say what Baton needs; the message says what is wrong with it."""


class Verdict(StrEnum):
    DONE = "done"  # the step is done, with an output
    ACCEPTED = "accepted"  # the integration will call back
    FAILED = "failed"  # the step fails now
    RETRY = "retry"  # no usable answer: try again later


@dataclass(frozen=True, slots=True)
class Outcome:
    verdict: Verdict
    message: str = ""
    output: dict[str, Any] = field(default_factory=dict)
    retry_after: float | None = None


def _no_constants(name: str) -> Any:
    raise Malformed(f"{name} is not JSON")


def _check_value(value: Any, path: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise Malformed(f"{path} is nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, str):
        _check_text(value, path)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, f"a key in {path}")
            _check_value(item, f"{path}.{key}", depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_value(item, f"{path}[{index}]", depth + 1)


def _check_text(text: str, path: str) -> None:
    if "\x00" in text:
        raise Malformed(f"{path} contains a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise Malformed(f"{path} contains an unpaired surrogate") from None


def parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_no_constants)
    except UnicodeDecodeError:
        raise Malformed("the body is not UTF-8") from None
    except RecursionError:
        raise Malformed("the body is nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise Malformed(f"the body is not JSON: {exc.msg} at character {exc.pos}") from None


def check_output(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Malformed("output must be a JSON object")
    _check_value(value, "output", 0)
    if len(json.dumps(value).encode()) > MAX_OUTPUT_BYTES:
        raise Malformed(f"output must be at most {MAX_OUTPUT_BYTES} bytes as JSON")
    return value


@dataclass(frozen=True, slots=True)
class Report:
    """A callback: the step is done (with an output) or failed (with a message)."""

    done: bool
    output: dict[str, Any]
    message: str


def parse_report(raw: bytes) -> Report:
    body = parse_json(raw)
    if not isinstance(body, dict):
        raise Malformed("the body must be a JSON object")
    status = body.get("status")
    unknown = sorted(set(body) - {"status", "output", "message"})
    if unknown:
        raise Malformed(f"unknown field {unknown[0]!r}: send status, output and message only")
    if status == "done":
        message = body.get("message", "")
        if not isinstance(message, str) or len(message) > MAX_MESSAGE:
            raise Malformed(f"message must be a string of at most {MAX_MESSAGE} characters")
        return Report(True, check_output(body.get("output", {})), "")
    if status == "failed":
        message = body.get("message", "")
        if not isinstance(message, str):
            raise Malformed("message must be a string")
        if "output" in body:
            check_output(body["output"])
        _check_text(message, "message")
        if len(message) > MAX_MESSAGE:
            raise Malformed(f"message must be at most {MAX_MESSAGE} characters")
        return Report(False, {}, message)
    raise Malformed('status must be "done" or "failed"')


def judge(status: int, raw: bytes, headers: Mapping[str, str]) -> Outcome:
    """What a call's answer means for the step (SPEC section 7)."""
    if status == 429 or status >= 500:
        return Outcome(Verdict.RETRY, f"answered {status}", retry_after=_retry_after(headers))
    if not 200 <= status < 300:
        return Outcome(Verdict.FAILED, f"answered {status}{_snippet(raw)}")
    try:
        body = parse_json(raw) if raw.strip() else {}
    except Malformed:
        body = {}
    body = body if isinstance(body, dict) else {}
    if status == 202 or body.get("status") == "accepted":
        return Outcome(Verdict.ACCEPTED)
    if body.get("status") == "failed":
        message = body.get("message")
        said = f": {message[:MAX_MESSAGE]}" if isinstance(message, str) and message else ""
        return Outcome(Verdict.FAILED, f"reported failure{said}")
    try:
        output = check_output(body.get("output", {}))
    except Malformed as exc:
        return Outcome(Verdict.DONE, f"answered {status}; its {exc}, so it was not kept")
    return Outcome(Verdict.DONE, f"answered {status}", output)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: the growing delays apply instead


def _snippet(raw: bytes, limit: int = 200) -> str:
    text = raw.decode("utf-8", errors="replace").strip().replace("\x00", "")
    if not text:
        return ""
    return f": {text[:limit]}{'…' if len(text) > limit else ''}"
