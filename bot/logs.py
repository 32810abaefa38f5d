"""Structured logs: one JSON object a line, carrying the workspace, run, step and notification
that the code logging is working on, whichever function writes the line.

    with log_context(team="T1", run=12, step=40):
        log.info("step ready")   # {"message": "step ready", "team": "T1", "run": 12, ...}

structlog formats the lines, and keeps the context in its contextvars, so it follows a request
into the listener task Bolt starts for it, and never leaks between deliveries running side by
side.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import IO, Any

import structlog
from structlog.typing import EventDict, WrappedLogger

# Attributes every LogRecord has; anything else on a record came from `extra=`.
# (uvicorn's `color_message` is its message again, with terminal colours.)
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "context",
    "color_message",
}


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add fields (None values left out) to every log line written inside the block."""
    with structlog.contextvars.bound_contextvars(
        **{k: v for k, v in fields.items() if v is not None}
    ):
        yield


def current_context() -> dict[str, Any]:
    return structlog.contextvars.get_contextvars()


class ContextFilter(logging.Filter):
    """Copies the current log context onto each record as it is written, so the line
    carries it wherever and whenever a handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.context = current_context()
        return True


# OAuth's `code` and `state`, and any token, in a query string; Slack tokens anywhere in text.
_SECRET_PARAM = re.compile(r"(?i)([?&](?:code|state|[a-z_]*token|client_secret)=)[^&\s\"']*")
_SLACK_TOKEN = re.compile(r"\bxox[a-z]-[A-Za-z0-9-]+|\bxoxe\.xox[a-z]-[A-Za-z0-9.-]+")
REDACTED = "[redacted]"


def redact(text: str) -> str:
    """`text` with OAuth codes, states and tokens replaced, so access logs never hold them."""
    return _SLACK_TOKEN.sub(REDACTED, _SECRET_PARAM.sub(rf"\1{REDACTED}", text))


class RedactSecrets(logging.Filter):
    """Rewrites a record's message with `redact` before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_REDACT = RedactSecrets()


def protect_access_log() -> None:
    """uvicorn's access lines carry the whole path and query (`/slack/oauth_redirect?code=…`):
    redact them at their logger, whatever handler (uvicorn's own or ours) writes them."""
    logging.getLogger("uvicorn.access").addFilter(_REDACT)  # a second add is a no-op


def _from_record(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """When, how bad and where from, then the record's context and its `extra=` fields."""
    record: logging.LogRecord = event["_record"]
    entry: EventDict = {
        "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
        "level": record.levelname.lower(),
        "logger": record.name,
        **event,
    }
    entry.update(getattr(record, "context", None) or {})
    entry.update((k, v) for k, v in record.__dict__.items() if k not in _STANDARD)
    return entry


def _redacted(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    for key in ("message", "exception"):
        if isinstance(event.get(key), str):
            event[key] = redact(event[key])
    return event


class JsonFormatter(structlog.stdlib.ProcessorFormatter):
    """One JSON object a line: time, level, logger, message, the context, `extra=` fields,
    and the exception's traceback, secrets redacted."""

    def __init__(self) -> None:
        super().__init__(
            foreign_pre_chain=[
                _from_record,
                structlog.processors.EventRenamer("message"),
                structlog.processors.format_exc_info,
                _redacted,
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(default=str),
            ],
        )


def configure(level: int = logging.INFO, stream: IO[str] | None = None) -> None:
    """JSON lines on stderr for everything, uvicorn's and Bolt's loggers included."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
