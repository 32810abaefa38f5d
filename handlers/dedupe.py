"""A global middleware: an event whose id was already handled is acknowledged and dropped."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.response import BoltResponse

from bot.runtime import Runtime
from bot.slack_events import first_sight


def register(app: AsyncApp, runtime: Runtime) -> None:
    async def drop_repeats(
        body: dict[str, Any],
        next: Callable[[], Awaitable[None]],
    ) -> BoltResponse | None:
        event_id = body.get("event_id")
        if body.get("type") == "event_callback" and event_id:
            fresh = await first_sight(
                runtime, team_id=str(body.get("team_id") or ""), event_id=str(event_id)
            )
            if not fresh:
                return BoltResponse(status=200, body="")
        await next()
        return None

    app.use(drop_repeats)
