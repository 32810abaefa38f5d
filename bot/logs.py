"""Structured logs: one JSON object a line, carrying the workspace, run, step and notification
that the code logging is working on, whichever function writes the line.

    with log_context(team="T1", run=12, step=40):
        log.info("step ready")   # {"message": "step ready", "team": "T1", "run": 12, ...}

The context lives in a ContextVar, so it follows a request into the listener task Bolt starts
for it, and never leaks between deliveries running side by side.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any

_context: ContextVar[dict[str, Any] | None] = ContextVar("baton_log_context", default=None)
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
    current = _context.get() or {}
    token = _context.set({**current, **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def current_context() -> dict[str, Any]:
    return dict(_context.get() or {})


class ContextFilter(logging.Filter):
    """Copies the current log context onto each record as it is written."""

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


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        entry.update(getattr(record, "context", None) or {})
        entry.update((k, v) for k, v in record.__dict__.items() if k not in _STANDARD)
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


def configure(level: int = logging.INFO, stream: IO[str] | None = None) -> None:
    """JSON lines on stderr for everything, uvicorn's and Bolt's loggers included."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
