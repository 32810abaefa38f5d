"""Global middleware: an event whose id, or a command or interaction whose trigger_id, was
already received is acknowledged and dropped; a new command or interaction is recorded
durably before its ack (bot/slack/requests.py)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.runtime import Runtime
from bot.slack import requests as slack_requests
from bot.slack.events import first_sight


def register(app: AsyncApp, runtime: Runtime, ledger: slack_requests.Ledger) -> None:
    async def drop_repeats(
        req: AsyncBoltRequest,
        body: dict[str, Any],
        context: dict[str, Any],
        next: Callable[[], Awaitable[None]],
    ) -> BoltResponse | None:
        event_id = body.get("event_id")
        if body.get("type") == "event_callback" and event_id:
            fresh = await first_sight(
                runtime, team_id=str(body.get("team_id") or ""), event_id=str(event_id)
            )
            if not fresh:
                return BoltResponse(status=200, body="")
        elif (key := slack_requests.key_of(body, context.get("team_id"))) is not None:
            if context.get(slack_requests.RECOVERED) != key and not await _receive(
                ledger, req, key
            ):
                return BoltResponse(status=200, body="")  # a replay: done once already
            context[slack_requests.REQUEST] = key
            context[slack_requests.LEDGER] = ledger
        await next()
        return None

    app.use(drop_repeats)


async def _receive(
    ledger: slack_requests.Ledger, req: AsyncBoltRequest, key: slack_requests.RequestKey
) -> bool:
    if req.mode == slack_requests.SOCKET_MODE:
        raw, content_type = json.dumps(req.body), slack_requests.SOCKET_MODE
    else:
        raw, content_type = req.raw_body, req.content_type or ""
    return await ledger.receive(key, body=raw, content_type=content_type)
