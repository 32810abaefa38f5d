"""The App Home tab: drawn when someone opens it."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.notify.home import request_home
from bot.runtime import Runtime
from bot.slack.inflight import InFlight
from handlers.listening import listener


async def home_opened(event: dict[str, Any], body: dict[str, Any], runtime: Runtime) -> None:
    if event.get("tab", "home") != "home":
        return
    await request_home(runtime, str(body.get("team_id") or ""), str(event["user"]))


def register(app: AsyncApp, inflight: InFlight) -> None:
    app.event("app_home_opened")(listener(inflight, home_opened))
