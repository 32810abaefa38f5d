"""A cap on request bodies, checked before anything reads or verifies them.

Slack's largest payloads (a modal's view state, a big message event) stay far below a
megabyte; a body above the cap is refused with 413 as soon as its size is known, from
Content-Length up front or by counting a chunked body as it streams, so nobody can make Baton
hold hundreds of megabytes in memory before the signature check would reject them.
"""

from __future__ import annotations

import logging
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("baton.web")

MAX_BODY_BYTES: Final = 1024 * 1024


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: 413 for a body over `max_bytes`, 400 for an unreadable Content-Length."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        declared = _content_length(scope)
        if declared == -1:
            log.warning("refused a request to %s: unreadable Content-Length", path)
            await _answer(send, 400, b"Bad Content-Length")
            return
        if declared is not None and declared > self.max_bytes:
            log.warning("refused a %d-byte request to %s: over the body limit", declared, path)
            await _answer(send, 413, b"Request body too large")
            return

        seen = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLarge:
            log.warning("refused a streamed request to %s: over the body limit", path)
            if not started:
                await _answer(send, 413, b"Request body too large")


def _content_length(scope: Scope) -> int | None:
    """The declared length, None when there is none (chunked), -1 when it is not a number."""
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() and len(text) < 20 else -1
    return None


async def _answer(send: Send, status: int, body: bytes) -> None:
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
