"""The whole stack for end-to-end tests: the Slack emulator, Baton's web app on a loopback
port, a signed driver, and a clock the test moves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.app.composition import Baton, create_app
from bot.app.server import RunningServer, start_server
from bot.app.settle import settle
from bot.config import Settings
from bot.core.clock import ManualClock
from bot.slack_emulator import SlackDriver, SlackEmulator

SIGNING_SECRET = "test-signing-secret"
# A Monday morning in Europe (the default directory's people live in Berlin, New York, Tokyo).
START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
SETTLE_SECONDS = 10.0


def make_settings(emulator: SlackEmulator, database_url: str, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "SLACK_BOT_TOKEN": "xoxb-emulator",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": emulator.api_url,
        "BATON_DATABASE_URL": database_url,
        "BATON_TICK_SECONDS": 3600,
        **extra,
    }
    return Settings(_env_file=None, **values)


@dataclass
class Stack:
    emulator: SlackEmulator
    baton: Baton
    server: RunningServer
    driver: SlackDriver
    clock: ManualClock

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    async def settle(self) -> None:
        """Wait until every listener finished and every notification was delivered."""
        try:
            async with asyncio.timeout(SETTLE_SECONDS):
                await settle(self.baton.runtime, self.baton.deliverer)
        except TimeoutError:
            pending = await self.baton.deliverer.pending()
            message = f"not settled after {SETTLE_SECONDS}s: {pending} notifications pending"
            raise AssertionError(message) from None

    async def command(self, text: str, *, user: str, channel: str = "C0GENERAL") -> None:
        response = await self.driver.command(text, user=user, channel=channel)
        assert response.status_code == 200, response.text
        await self.settle()

    def ephemeral(self, user: str) -> str:
        """The text of the newest ephemeral message `user` got."""
        messages = self.emulator.ephemerals(user)
        assert messages, f"{user} got no ephemeral message"
        return messages[-1].text


@asynccontextmanager
async def open_stack(database_url: str, **settings: Any) -> AsyncIterator[Stack]:
    """The stack with some settings of the test's own (e.g. BATON_TEMPLATE_DIR)."""
    async with SlackEmulator.default() as emulator:
        clock = ManualClock(START)
        baton = create_app(
            make_settings(emulator, database_url, **settings),
            clock=clock,
            channel_interval=0.0,
            migrate_on_start=False,  # the fixtures' databases are migrated already
        )
        server = await start_server(baton.web)
        driver = SlackDriver(f"http://127.0.0.1:{server.port}", SIGNING_SECRET, emulator)
        try:
            yield Stack(emulator, baton, server, driver, clock)
        finally:
            await driver.aclose()
            await server.stop()


@pytest.fixture
async def stack(database_url: str) -> AsyncIterator[Stack]:
    async with open_stack(database_url) as stack:
        yield stack
