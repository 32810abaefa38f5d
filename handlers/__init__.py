"""Slack listeners. Each module registers its own with a plain `register(app)`."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from handlers import slash


def register_all(app: AsyncApp) -> None:
    slash.register(app)
