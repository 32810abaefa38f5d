"""Slack telling us the app left a workspace: `app_uninstalled`, or its bot token revoked."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.runtime import Runtime
from bot.slack.inflight import InFlight
from bot.slack.installations import uninstall
from handlers.listening import listener


async def app_uninstalled(body: dict[str, Any], runtime: Runtime) -> None:
    await uninstall(runtime, str(body["team_id"]))


async def tokens_revoked(event: dict[str, Any], body: dict[str, Any], runtime: Runtime) -> None:
    # Only the bot token matters: Baton never asks for user tokens.
    if (event.get("tokens") or {}).get("bot"):
        await uninstall(runtime, str(body["team_id"]))


def register(app: AsyncApp, inflight: InFlight) -> None:
    app.event("app_uninstalled")(listener(inflight, app_uninstalled))
    app.event("tokens_revoked")(listener(inflight, tokens_revoked))
