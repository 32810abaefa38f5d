"""A crowd at work: the time from a Done click to the DM of the step it made ready, for 50
people clicking and running commands at once, against one person alone.

Baton runs as in production (its own process, a SQLite file, Slack's pacing: a second between
posts into one channel, the method tiers of chat.update and the rest); this process plays
Slack (the emulator, Web API and all) and the people. Each person works through their own
chain of steps in their own channel: start a run, then, a second after each step's DM
arrives (time to read it), click its Done, and time how long the next step's DM takes to
arrive. A chain finished, they start the next run. Every click makes a card redraw and a
thread line too, so the crowd spends the chat.update budget of the minute within seconds:
what is measured is whether a person's next step waits behind that.

Each DM is counted at the emulator: a step whose DM never came, or came twice, fails the run.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

from bench.ack import serve_until_told, server, settings_for
from bench.table import Row
from bot.app.composition import create_app
from bot.core.errors import NotFound
from bot.slack.ids import ActionId, StepRef
from bot.slack_emulator import Channel, Message, SlackDriver, SlackEmulator, User
from bot.slack_emulator.state import Change

SECRET = "bench-signing-secret"
CROWD = 50
SECONDS = 60.0
ALONE_SECONDS = 20.0
STEPS = 10
READING = 1.0  # seconds between a DM arriving and its Done click
PATIENCE = 30.0  # a DM later than this counts as lost
P99_CEILING = 2.0  # seconds, whatever one person alone sees
RATIO_TARGET = 3.0

PEOPLE = tuple(
    User(f"U0C{i:02d}", f"crowd{i:02d}", real_name=f"Crowd {i}", tz="Europe/Berlin")
    for i in range(CROWD)
)
ROOMS = tuple(Channel(f"C0CROWD{i:02d}", f"crowd-{i:02d}", (PEOPLE[i].id,)) for i in range(CROWD))


def chain(index: int) -> str:
    """Person `index`'s own workflow: STEPS steps for them, one after the other."""
    user = PEOPLE[index]
    steps = "\n".join(
        f"s{n:02d}: Step {n} <@{user.id}|{user.name}>" + (f" after s{n - 1:02d}" if n > 1 else "")
        for n in range(1, STEPS + 1)
    )
    return f"define chain{index:02d} Chain {index}\n{steps}"


def serve_baton(api_url: str, database_url: str, conn: Connection) -> None:
    async def serve() -> None:
        # Production pacing: a second a channel, and the method tiers.
        baton = create_app(settings_for(api_url, database_url), channel_interval=1.0)
        await serve_until_told(baton.web, conn)

    asyncio.run(serve())


# -- this process: Slack and the people ------------------------------------------------------


@dataclass
class StepDMs:
    """Every step DM as it arrives: (run, step) -> its messages and when each came."""

    arrived: dict[tuple[str, str], list[tuple[float, Message]]] = field(default_factory=dict)
    waiting: dict[tuple[str, str], asyncio.Future[tuple[float, Message]]] = field(
        default_factory=dict
    )

    def seen(self, change: Change) -> None:
        item = change.item
        if change.kind != "message" or not isinstance(item, Message):
            return
        if not item.channel.startswith("D"):
            return
        key = _step_of(item)
        if key is None:
            return
        now = time.monotonic()
        self.arrived.setdefault(key, []).append((now, item))
        future = self.waiting.pop(key, None)
        if future is not None and not future.done():
            future.set_result((now, item))

    async def next(self, key: tuple[str, str]) -> tuple[float, Message]:
        if key in self.arrived:
            return self.arrived[key][0]
        future = self.waiting.setdefault(key, asyncio.get_running_loop().create_future())
        async with asyncio.timeout(PATIENCE):
            return await future


def _step_of(message: Message) -> tuple[str, str] | None:
    for ref in message.buttons:
        if ref.action_id == ActionId.DONE:
            try:
                found = StepRef.decode(str(ref.element.get("value", "")))
            except NotFound:
                return None
            return found.run, found.step
    return None


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    late: int = 0


# Runs each person has started so far: run keys count on from one phase to the next.
Started = dict[int, int]


async def person(
    index: int, driver: SlackDriver, dms: StepDMs, until: float, tally: Tally, started: Started
) -> None:
    user, room = PEOPLE[index], ROOMS[index]
    while time.monotonic() < until:
        started[index] = started.get(index, 0) + 1
        run = f"chain{index:02d}-{started[index]}"
        response = await driver.command(f"run chain{index:02d}", user=user.id, channel=room.id)
        response.raise_for_status()
        try:
            _, message = await dms.next((run, "s01"))
            for n in range(1, STEPS):
                await asyncio.sleep(READING)
                clicked = time.monotonic()
                response = await driver.click(message, user=user.id, action_id=ActionId.DONE.value)
                response.raise_for_status()
                came, message = await dms.next((run, f"s{n + 1:02d}"))
                tally.latencies.append(came - clicked)
        except TimeoutError:
            tally.late += 1
            return


async def crowd(
    emulator: SlackEmulator, baton_url: str, people: int, seconds: float, started: Started
) -> tuple[Tally, StepDMs]:
    dms = StepDMs()
    emulator.subscribe(dms.seen)
    tally = Tally()
    until = time.monotonic() + seconds
    async with SlackDriver(baton_url, SECRET, emulator, timeout=30.0) as driver:
        people_at_work = (person(i, driver, dms, until, tally, started) for i in range(people))
        await asyncio.gather(*people_at_work)
    return tally, dms


def _check(tally: Tally, dms: StepDMs, label: str) -> None:
    """Every step of every run finished got its DM once; none came twice."""
    doubled = {key: len(found) for key, found in dms.arrived.items() if len(found) > 1}
    if doubled or tally.late:
        raise RuntimeError(f"{label}: {tally.late} DMs never came; doubled: {doubled}")


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


async def run() -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="baton-bench-") as folder:
        database_url = f"sqlite:///{Path(folder) / 'baton.db'}"
        async with (
            SlackEmulator(users=PEOPLE, channels=ROOMS) as emulator,
            server(serve_baton, emulator.api_url, database_url) as baton_url,
        ):
            emulator.enforce_pacing(1.0)
            async with SlackDriver(baton_url, SECRET, emulator) as driver:
                for i in range(CROWD):
                    response = await driver.command(chain(i), user=PEOPLE[i].id)
                    response.raise_for_status()
            started: Started = {}
            alone, alone_dms = await crowd(emulator, baton_url, 1, ALONE_SECONDS, started)
            _check(alone, alone_dms, "one person")
            many, many_dms = await crowd(emulator, baton_url, CROWD, SECONDS, started)
            _check(many, many_dms, f"{CROWD} people")
            if emulator.pacing_violations(1.0):
                raise RuntimeError("Baton posted into a channel faster than Slack allows")
    ms = 1000.0
    label = f"click → next step's DM, {CROWD} people for {SECONDS:.0f} s"
    p99 = _p99(many.latencies)
    return [
        Row.of(
            f"{label}, median",
            statistics.median(many.latencies) * ms,
            statistics.median(alone.latencies) * ms,
            RATIO_TARGET,
        ),
        Row.of(f"{label}, p99", p99 * ms, _p99(alone.latencies) * ms, RATIO_TARGET),
        Row.of(f"{label}, p99 vs 2 s", p99 * ms, P99_CEILING * ms, 1.0),
    ]


if __name__ == "__main__":
    from bench.table import format_table

    print(format_table(asyncio.run(run())))
