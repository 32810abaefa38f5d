"""Real `baton serve` processes on one PostgreSQL database behind one Slack emulator: a day's
runs, reminders and digests through two of them arrive exactly once; a replica killed with
SIGKILL mid-delivery loses and doubles nothing; SIGTERM finishes what is in flight.

The replicas run on the system clock (they are separate processes), so these tests take real
seconds: reminders of a step `due 1m` come after 48 and 60 of them.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from bot.slack.ids import ActionId
from bot.slack_emulator import Message, SlackDriver, SlackEmulator
from storage.db import create_engine, session_factory, unit_of_work
from storage.migrate import upgrade
from storage.models import Outbox, Run, SlackRequest
from tests.databases import create_postgres_database, drop_postgres_database, require_postgres
from tests.messages import delivery_marks

pytestmark = pytest.mark.postgres

SIGNING_SECRET = "replica-signing-secret"
BATON = Path(sys.executable).with_name("baton")
STANDUP = """define standup Daily standup
collect: Collect updates <@U0ALICE|alice> due 1m
review: Review blockers <!subteam^S0ITTEAM|@it-team> after collect
publish: Publish notes <@U0DAVE|dave> after review"""
TRIO = """define trio Three things at once
one: First thing <@U0ALICE|alice>
two: Second thing <@U0BOB|bob>
three: Third thing <@U0CAROL|carol>"""
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Replica:
    """One `baton serve` process; its JSON log lines go to `log`."""

    name: str
    env: dict[str, str]
    folder: Path
    port: int = field(default_factory=free_port)
    process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.folder / f"{self.name}.log"

    @property
    def worker_id(self) -> str:
        assert self.process is not None
        return f"{socket.gethostname()}:{self.process.pid}"

    async def start(self) -> None:
        env = {**self.env, "BATON_PORT": str(self.port)}
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                str(BATON), "serve", env=env, cwd=self.folder, stdout=log, stderr=log
            )
        process = self.process

        async def healthy() -> bool:
            if process.returncode is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log.read_text()[-3000:]}")
            try:
                async with httpx.AsyncClient() as client:
                    return (await client.get(f"{self.url}/healthz")).status_code == 200
            except httpx.TransportError:
                return False

        await until(healthy, within=30)

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def terminate(self) -> int:
        """SIGTERM, as a deployment stops a replica; returns the exit code."""
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            return await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            await self.kill()


@dataclass
class Fleet:
    emulator: SlackEmulator
    engine: AsyncEngine
    replicas: list[Replica]
    drivers: list[SlackDriver]

    async def pending(self) -> list[Outbox]:
        async with unit_of_work(session_factory(self.engine)) as session:
            query = select(Outbox).where(col(Outbox.state) != "sent")
            return list((await session.exec(query)).all())

    async def outbox(self) -> list[Outbox]:
        async with unit_of_work(session_factory(self.engine)) as session:
            return list((await session.exec(select(Outbox))).all())

    async def unfinished(self) -> list[SlackRequest]:
        """Requests acknowledged whose listener has not finished (each is recorded before its
        acknowledgement and marked done after its listener's transaction)."""
        async with unit_of_work(session_factory(self.engine)) as session:
            query = select(SlackRequest).where(col(SlackRequest.done_at).is_(None))
            return list((await session.exec(query)).all())

    async def quiet(self, within: float = 60) -> None:
        """Every request acknowledged so far is handled, and every notification sent."""
        await until(self._settled, within)

    async def _settled(self) -> bool:
        # Requests first: a listener commits its notifications before its request is done.
        return not await self.unfinished() and not await self.pending()

    async def command(self, replica: int, text: str, user: str, channel: str) -> None:
        response = await self.drivers[replica].command(text, user=user, channel=channel)
        assert response.status_code == 200, response.text

    async def click(self, replica: int, message: Message, user: str, text: str) -> None:
        response = await self.drivers[replica].click(message, user=user, text=text)
        assert response.status_code == 200, response.text


async def until(check: Callable[[], Awaitable[T]], within: float) -> T:
    """Poll `check` (the database, another process) until it gives something truthy."""
    async with asyncio.timeout(within):
        while True:
            if result := await check():
                return result
            await asyncio.sleep(0.1)


async def seen(predicate: Callable[[], T], within: float = 30) -> T:
    async def check() -> T:
        return predicate()

    return await until(check, within)


@pytest.fixture
def backend() -> str:
    require_postgres()
    return "postgres"


@pytest.fixture
async def database() -> AsyncIterator[str]:
    url = await create_postgres_database()
    engine = create_engine(url)
    await upgrade(engine)
    await engine.dispose()
    try:
        yield url
    finally:
        await drop_postgres_database(url)


@pytest.fixture
async def fleet(backend: str, database: str, tmp_path: Path) -> AsyncIterator[Fleet]:
    async with SlackEmulator.default() as emulator:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("BATON_", "SLACK_"))}
        env = {
            **base,
            "SLACK_BOT_TOKEN": "xoxb-emulator",
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": emulator.api_url,
            "BATON_DATABASE_URL": database,
            "BATON_HOST": "127.0.0.1",
            "BATON_TICK_SECONDS": "1",
        }
        replicas = [Replica(name, env, tmp_path) for name in ("replica-a", "replica-b")]
        engine = create_engine(database)
        drivers = [SlackDriver(replica.url, SIGNING_SECRET, emulator) for replica in replicas]
        try:
            await asyncio.gather(*(replica.start() for replica in replicas))
            yield Fleet(emulator, engine, replicas, drivers)
        finally:
            for replica in replicas:
                await replica.stop()
            for driver in drivers:
                await driver.aclose()
            await engine.dispose()


def reminders(emulator: SlackEmulator, user: str) -> list[Message]:
    return [
        m
        for m in emulator.dm(user)
        if any(ref.action_id == ActionId.SNOOZE_HOUR for ref in m.buttons)
    ]


def step_dms(emulator: SlackEmulator, user: str, title: str) -> list[Message]:
    return [m for m in emulator.dm(user) if m.text.startswith("Your step") and title in m.text]


async def step_dms_seen(emulator: SlackEmulator, user: str, title: str, n: int) -> list[Message]:
    """The user's `n` step DMs about `title`, once they have all arrived."""

    def all_there() -> list[Message] | None:
        found = step_dms(emulator, user, title)
        return found if len(found) == n else None

    found = await seen(all_there)
    assert found is not None
    return found


async def test_two_replicas_deliver_a_days_work_exactly_once(fleet: Fleet) -> None:
    emulator = fleet.emulator
    emulator.enforce_pacing(1.0)  # Slack's own limit: a second a channel, or a 429
    channels = ("C0GENERAL", "C0ONBOARD", "C0OPS")
    await fleet.command(0, "hours 00:00-23:59 everyday", "U0ALICE", "U0ALICE")
    await fleet.command(1, STANDUP, "U0DAVE", "C0OPS")
    await seen(lambda: emulator.ephemerals("U0DAVE"))
    for n in range(6):
        await fleet.command(n % 2, "run standup", "U0DAVE", channels[n % 3])
    collect = await step_dms_seen(emulator, "U0ALICE", "Collect", 6)

    # Five runs go all the way, each click through one replica or the other; the sixth is
    # left open for its reminders.
    for n, message in enumerate(collect[:5]):
        await fleet.click(n % 2, message, "U0ALICE", "Done")
    claims = await step_dms_seen(emulator, "U0BOB", "Review", 5)
    for n, message in enumerate(claims):
        await fleet.click(n % 2, message, "U0BOB", "Claim")
    await fleet.quiet()
    for n, message in enumerate(step_dms(emulator, "U0BOB", "Review")):
        redrawn = emulator.message(message.channel, message.ts)
        assert redrawn is not None
        await fleet.click((n + 1) % 2, redrawn, "U0BOB", "Done")
    publish = await step_dms_seen(emulator, "U0DAVE", "Publish", 5)
    for n, message in enumerate(publish):
        await fleet.click(n % 2, message, "U0DAVE", "Done")
    await fleet.quiet()
    for n, channel in enumerate(channels):
        await fleet.command(n % 2, "digest now", "U0DAVE", channel)
    # The open step's "due soon" (at 48 s) and "overdue" (at 60 s) reminders.
    await seen(lambda: len(reminders(emulator, "U0ALICE")) >= 2, within=120)
    await fleet.quiet()

    async with unit_of_work(session_factory(fleet.engine)) as session:
        runs = list((await session.exec(select(Run).order_by(col(Run.number)))).all())
    assert sorted(run.state for run in runs) == ["active"] + ["completed"] * 5
    # Each run card once (and the digest) in its channel; each step DM once; two reminders.
    for channel in channels:
        assert len(emulator.messages(channel)) == 3, channel
    assert len(step_dms(emulator, "U0ALICE", "Collect")) == 6
    assert len(step_dms(emulator, "U0BOB", "Review")) == 5
    assert len(step_dms(emulator, "U0CAROL", "Review")) == 5
    assert len(step_dms(emulator, "U0DAVE", "Publish")) == 5
    assert len(reminders(emulator, "U0ALICE")) == 2
    # Every notification was sent, every message of it exactly once, each by one replica or
    # the other (which replica claims a row is up to scheduling, so it is not asserted).
    rows = await fleet.outbox()
    assert {row.state for row in rows} == {"sent"}
    marks = delivery_marks(emulator.calls)
    assert len(marks) == len(set(marks)) == sum(len(row.posted) for row in rows)
    assert {row.claimed_by for row in rows} <= {r.worker_id for r in fleet.replicas}
    # Paced across replicas: no channel ever above a message a second, no 429 earned.
    assert emulator.pacing_violations(1.0) == []
    assert [call for call in emulator.calls if call.status == 429] == []


async def test_a_replica_killed_mid_delivery_loses_and_doubles_nothing(fleet: Fleet) -> None:
    emulator = fleet.emulator
    first, second = fleet.replicas
    await second.terminate()  # one replica, so the one killed is the one delivering
    await fleet.command(0, TRIO, "U0ALICE", "C0GENERAL")
    await fleet.quiet()

    # Slack is slow: the card and the three DMs all reach it, then the replica dies.
    emulator.delay("chat.postMessage", 3.0, times=4)
    slow = emulator.faults.delays[-1]
    await fleet.command(0, "run trio", "U0DAVE", "C0GENERAL")
    await seen(lambda: slow.times == 0)
    in_flight = [row for row in await fleet.pending() if row.claimed_by == first.worker_id]
    assert len(in_flight) == 4
    await first.kill()
    # Slack carries out what it received: four messages Baton never heard back about.
    await seen(lambda: len(delivery_marks(emulator.calls)) == 4)

    await first.start()  # the restarted replica takes over once the dead one's lease is out
    await fleet.quiet(within=90)
    marks = delivery_marks(emulator.calls)
    assert len(marks) == len(set(marks)) == 4
    (card,) = emulator.messages("C0GENERAL")
    for person in ("U0ALICE", "U0BOB", "U0CAROL"):
        assert len(emulator.dm(person)) == 1

    # The run goes on: its card (found again, not re-posted) is updated in place.
    (dm,) = emulator.dm("U0ALICE")
    await fleet.click(0, dm, "U0ALICE", "Done")
    await fleet.quiet()
    redrawn = emulator.message("C0GENERAL", card.ts)
    assert redrawn is not None and redrawn.edits
    assert len(emulator.messages("C0GENERAL")) == 1
    assert {row.state for row in await fleet.outbox()} == {"sent"}


async def runs(fleet: Fleet) -> list[Run]:
    async with unit_of_work(session_factory(fleet.engine)) as session:
        return list((await session.exec(select(Run))).all())


async def test_a_run_acknowledged_then_killed_is_started_once_after_restart(
    fleet: Fleet,
) -> None:
    emulator = fleet.emulator
    first, second = fleet.replicas
    await second.terminate()
    await fleet.command(0, TRIO, "U0ALICE", "C0GENERAL")
    await fleet.quiet()

    # Slack is slow to answer the lookup `run` makes before it starts anything: Dave's
    # command is acknowledged (200), then the replica dies mid-way.
    emulator.delay("users.info", 5.0, times=1)
    slow = emulator.faults.delays[-1]
    await fleet.command(0, "run trio", "U0DAVE", "C0GENERAL")
    await seen(lambda: slow.times == 0)
    await first.kill()
    assert await runs(fleet) == []
    assert emulator.ephemerals("U0DAVE") == []

    # Restarted, it finds the request it acknowledged and never finished, and carries it out.
    await first.start()
    await seen(lambda: emulator.ephemerals("U0DAVE"), within=60)
    await fleet.quiet()
    assert [run.key for run in await runs(fleet)] == ["trio-1"]
    (started,) = emulator.ephemerals("U0DAVE")
    assert "Started `trio-1`" in started.text
    assert len(emulator.messages("C0GENERAL")) == 1
    for person in ("U0ALICE", "U0BOB", "U0CAROL"):
        assert len(emulator.dm(person)) == 1
    async with unit_of_work(session_factory(fleet.engine)) as session:
        (kept,) = (await session.exec(select(SlackRequest).where(SlackRequest.attempts == 2))).all()
    assert kept.done_at is not None and kept.claimed_by == first.worker_id


async def test_sigterm_finishes_in_flight_deliveries(fleet: Fleet) -> None:
    emulator = fleet.emulator
    first, second = fleet.replicas
    await second.terminate()
    await fleet.command(0, TRIO, "U0ALICE", "C0GENERAL")
    await fleet.quiet()
    emulator.delay("chat.postMessage", 2.0, times=4)
    slow = emulator.faults.delays[-1]
    await fleet.command(0, "run trio", "U0DAVE", "C0GENERAL")
    await seen(lambda: slow.times == 0)

    # uvicorn shuts down gracefully, then exits by the signal it caught.
    assert await first.terminate() in (0, -signal.SIGTERM)
    # It stopped only after hearing back from Slack and recording each message as sent.
    rows = await fleet.outbox()
    assert {row.state for row in rows} == {"sent"}
    marks = delivery_marks(emulator.calls)
    assert len(marks) == len(set(marks)) == 4
    assert '"message": "Application shutdown complete."' in first.log.read_text()
