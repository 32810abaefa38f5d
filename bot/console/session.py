"""`baton console`: the whole bot against the built-in Slack emulator, driven by typed lines.

Opening a console starts the emulator, Baton's real web app on a loopback port (with a SQLite
file and a clock that moves only when told) and a driver that acts in Slack as people do; the
typed lines are carried out by `bot.console.shell`.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from bot.app.composition import create_app
from bot.app.server import start_server
from bot.config import Settings
from bot.console.shell import Console
from bot.core.clock import ManualClock
from bot.slack_emulator import SlackDriver, SlackEmulator

DEFAULT_DATABASE: Final = Path("baton-console.db")


@dataclass(frozen=True)
class ConsoleOptions:
    database: Path = DEFAULT_DATABASE
    start: datetime | None = None  # business time at start (default: now, to the minute)
    sample: bool = True  # import the sample workflow when the database has never had it
    fresh: bool = False  # delete the database file first


def console_settings(emulator: SlackEmulator, database: Path) -> Settings:
    """One workspace, the emulator's Web API, a SQLite file; nothing read from Slack's env."""
    values: dict[str, Any] = {
        "SLACK_BOT_TOKEN": emulator.workspace().bot_token,
        "SLACK_SIGNING_SECRET": secrets.token_hex(16),
        "SLACK_CLIENT_ID": None,
        "SLACK_CLIENT_SECRET": None,
        "SLACK_APP_TOKEN": None,
        "SLACK_API_URL": emulator.api_url,
        "BATON_DATABASE_URL": f"sqlite:///{database.resolve()}",
        "BATON_HOST": "127.0.0.1",
        # Everything runs on this machine, so the integrations people try here do too.
        "BATON_HOOK_ALLOW_PRIVATE": True,
        # The console sweeps itself whenever it moves the clock; a background tick adds nothing.
        "BATON_TICK_SECONDS": 3600,
    }
    return Settings(_env_file=None, **values)


@asynccontextmanager
async def open_console(options: ConsoleOptions) -> AsyncIterator[Console]:
    """Start the emulator, Baton on a loopback port and a driver; stop them all afterwards."""
    start = options.start or datetime.now(UTC).replace(second=0, microsecond=0)
    if options.fresh:
        await asyncio.to_thread(forget_database, options.database)
    async with SlackEmulator.default() as emulator:
        settings = console_settings(emulator, options.database)
        clock = ManualClock(start)
        baton = create_app(settings, clock=clock, channel_interval=0.0)
        server = await start_server(baton.web)
        url = f"http://127.0.0.1:{server.port}"
        # Hooks call back to where Baton really listens (a free port), not the default 3000.
        settings.BATON_PUBLIC_URL = url
        assert settings.SLACK_SIGNING_SECRET is not None
        driver = SlackDriver(url, settings.SLACK_SIGNING_SECRET, emulator)
        console = Console(emulator, baton, server, driver, clock)
        try:
            await console.begin(database=options.database, sample=options.sample)
            yield console
        finally:
            await driver.aclose()
            await server.stop()


def forget_database(database: Path) -> None:
    """Delete a SQLite database with its write-ahead log and shared-memory files."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
