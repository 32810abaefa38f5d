"""Socket Mode: Slack's events over a websocket, with the web app still serving ops routes."""

from __future__ import annotations

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

from bot.app.composition import Baton
from bot.app.server import start_server
from bot.config import Settings


async def serve_socket_mode(baton: Baton, settings: Settings) -> None:
    # The web app keeps /healthz, /metrics and hook callbacks reachable.
    server = await start_server(baton.web, settings.BATON_HOST, settings.BATON_PORT)
    handler = AsyncSocketModeHandler(baton.bolt, settings.SLACK_APP_TOKEN)
    try:
        await handler.start_async()  # type: ignore[no-untyped-call]
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]
        await server.stop()
