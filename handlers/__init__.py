"""Slack listeners. Each module registers its own with a plain `register(app)`."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.slack.inflight import InFlight
from handlers import builder, buttons, home, installation, slash, time, unhandled


def register_all(app: AsyncApp, inflight: InFlight) -> None:
    slash.register(app, inflight)
    buttons.register(app, inflight)
    builder.register(app, inflight)
    home.register(app, inflight)
    time.register(app, inflight)
    installation.register(app, inflight)
    unhandled.register(app)
