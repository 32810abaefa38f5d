"""The whole stack for end-to-end tests: the Slack emulator, Baton's web app on a loopback
port, a signed driver, and a clock the test moves; with what tests do to it and read from it
(the Slack messages people got, the rows Baton stored), so no test imports another."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from bot.app.composition import Baton, create_app
from bot.app.server import RunningServer, start_server
from bot.app.settle import settle
from bot.config import Settings
from bot.core.clock import ManualClock
from bot.slack.ids import ActionId
from bot.slack_emulator import Message, SlackDriver, SlackEmulator, check_blocks
from storage.db import unit_of_work
from storage.models import Run, StepRun, Workflow

SIGNING_SECRET = "test-signing-secret"
# A Monday morning in Europe (the default directory's people live in Berlin, New York, Tokyo).
START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
SETTLE_SECONDS = 10.0


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment of November 2026, the month the stack's clock starts in."""
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


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

    async def click(
        self,
        message: Message,
        user: str,
        text: str,
        *,
        block_id: str | None = None,
        deliver: bool = True,
    ) -> None:
        """`user` clicks the button labelled `text`; with `deliver=False` its consequences are
        committed but left for Baton's own deliverer to send."""
        response = await self.driver.click(message, user=user, text=text, block_id=block_id)
        assert response.status_code == 200
        if deliver:
            await self.settle()
        else:
            await self.baton.runtime.listeners.wait_idle()

    async def import_yaml(self, user: str, text: str) -> str | None:
        """Submit `text` in the import modal as `user`: the modal's inline error, or None."""
        await self.command("import", user=user)
        modal = self.emulator.open_view(user)
        assert modal is not None
        response = await self.driver.submit_view(
            modal, user=user, values={"wf_yaml": {"text": text}}
        )
        errors = self.driver.view_errors(response)
        if errors is not None:
            await self.driver.close_view(modal, user=user)
        await self.settle()
        return None if errors is None else errors["wf_yaml"]

    # -- time --------------------------------------------------------------------------------

    async def sweep(self, after: timedelta = timedelta(0)) -> None:
        """Move the clock on by `after` and sweep."""
        await self.sweep_at(self.clock.now() + after)

    async def sweep_at(self, moment: datetime) -> None:
        """Move the clock to `moment` and sweep, as the ticking scheduler would."""
        self.clock.set(moment)
        await self.baton.sweeper.sweep()
        await self.settle()

    async def walk(self, until: datetime, step: timedelta = timedelta(hours=1)) -> None:
        """Sweep every `step` up to `until`, as the ticking scheduler would."""
        while self.clock.now() + step <= until:
            await self.sweep_at(self.clock.now() + step)
        if self.clock.now() < until:
            await self.sweep_at(until)

    # -- what people got in Slack ------------------------------------------------------------

    def ephemeral(self, user: str) -> str:
        """The text of the newest ephemeral message `user` got."""
        messages = self.emulator.ephemerals(user)
        assert messages, f"{user} got no ephemeral message"
        return messages[-1].text

    def answer(self, user: str = "U0ALICE") -> Message:
        """The newest ephemeral reply `user` got, which Slack would accept as it is."""
        messages = self.emulator.ephemerals(user)
        assert messages, f"{user} got no reply"
        message = messages[-1]
        assert check_blocks(message.blocks) == []
        return message

    def last_dm(self, user: str) -> Message:
        messages = self.emulator.dm(user)
        assert messages, f"{user} got no DM"
        return messages[-1]

    def with_buttons(self, user: str) -> list[Message]:
        """The DMs `user` got that carry buttons."""
        return [m for m in self.emulator.dm(user) if m.buttons]

    def dm_for(self, user: str, title: str = "") -> Message:
        """The newest DM with buttons `user` got (about `title`, if given)."""
        found = [m for m in self.with_buttons(user) if title in m.render()]
        about = f" about {title!r}" if title else ""
        assert found, f"{user} has no DM with buttons{about}"
        return found[-1]

    def reminders_for(self, user: str) -> list[Message]:
        """The reminder messages `user` got: the ones that came with snooze buttons."""
        return [
            m
            for m in self.emulator.dm(user)
            if ActionId.SNOOZE_HOUR.value in str(m.edits[0].blocks if m.edits else m.blocks)
        ]

    def card(self, channel: str = "C0GENERAL") -> Message:
        """The newest run card in `channel`."""
        cards = [m for m in self.emulator.messages(channel) if not m.is_reply]
        assert cards, "no run card"
        return cards[-1]

    # -- what Baton stored -------------------------------------------------------------------

    async def runs(self) -> list[Run]:
        async with unit_of_work(self.baton.runtime.sessions) as session:
            return list((await session.exec(select(Run).order_by(col(Run.id)))).all())

    async def run_keys(self) -> list[tuple[str, str]]:
        """Each run's key and owner, oldest first."""
        return [(run.key, run.owner_id) for run in await self.runs()]

    async def run_state(self, key: str) -> str:
        async with unit_of_work(self.baton.runtime.sessions) as session:
            return (await session.exec(select(Run.state).where(Run.key == key))).one()

    async def steps(self, key: str) -> dict[str, StepRun]:
        """The steps of run `key`, by step id."""
        async with unit_of_work(self.baton.runtime.sessions) as session:
            run = (await session.exec(select(Run).where(Run.key == key))).one()
            rows = (await session.exec(select(StepRun).where(StepRun.run_id == run.id))).all()
        return {row.step_key: row for row in rows}

    async def workflow(self, name: str) -> Workflow:
        async with unit_of_work(self.baton.runtime.sessions) as session:
            return (await session.exec(select(Workflow).where(Workflow.name == name))).one()


@asynccontextmanager
async def open_stack(
    database_url: str, *, public_url: bool = False, **settings: Any
) -> AsyncIterator[Stack]:
    """The stack with some settings of the test's own (e.g. BATON_TEMPLATE_DIR); with
    `public_url`, BATON_PUBLIC_URL names its real port (for hooks calling back)."""
    async with SlackEmulator.default() as emulator:
        clock = ManualClock(START)
        values = make_settings(emulator, database_url, **settings)
        baton = create_app(
            values,
            clock=clock,
            channel_interval=0.0,
            migrate_on_start=False,  # the fixtures' databases are migrated already
        )
        server = await start_server(baton.web)
        if public_url:
            values.BATON_PUBLIC_URL = f"http://127.0.0.1:{server.port}"
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
