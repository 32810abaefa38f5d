"""Requests from Slack, counted by kind and logged with their workspace and user."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.context.async_context import AsyncBoltContext

from bot.logs import log_context
from bot.metrics import Metrics

Middleware = Callable[..., Awaitable[None]]


def request_kind(body: dict[str, Any]) -> str:
    """command, block_actions, view_submission, event:<type>, ..."""
    if "command" in body:
        return "command"
    kind = str(body.get("type") or "unknown")
    if kind == "event_callback":
        event = body.get("event") or {}
        return f"event:{event.get('type', 'unknown')}"
    return kind


def slack_middleware(metrics: Metrics) -> Middleware:
    """A Bolt global middleware: the listeners it leads to log inside the request's context
    (Bolt starts them as tasks from here, and tasks copy the context they start in)."""

    async def observe(
        body: dict[str, Any], context: AsyncBoltContext, next: Callable[[], Awaitable[None]]
    ) -> None:
        kind = request_kind(body)
        metrics.requests.labels(kind).inc()
        with log_context(team=context.team_id, user=context.user_id, request=kind):
            await next()

    return observe
