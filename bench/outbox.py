"""Delivering one message to each of 100 channels, against the floor Slack's pacing allows.

Slack takes about one message a second per channel, and channels are independent, so one
message to each of 100 channels can all go in one round of 100 parallel posts. The floor is
that round, measured: a bare `AsyncWebClient` posting the same 100 run cards concurrently. Baton
delivers 100 run cards (100 runs started in 100 channels) from its outbox, paced at one second
a channel as in production, until none is pending.

The emulator runs in its own process, as Slack runs on its own servers, with its pacing check
on (a post closer than 1 s to the previous one in its channel gets a 429). Each side posts into
fresh channels, the two alternate, and each side's best of REPEATS counts (noise only adds).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient
from sqlmodel import col, select

from bench.databases import backends, scratch_database
from bench.processes import running
from bench.table import Row
from bot.app.composition import Baton, create_app
from bot.config import Settings
from bot.core.clock import ManualClock
from bot.language import StepDef, WorkflowDef
from bot.people.permissions import Actor
from bot.render.runs import run_card
from bot.runs.lifecycle import RunRequest, start_run
from bot.slack_emulator import Channel, SlackEmulator, User
from bot.workflows.definitions import define
from storage.db import unit_of_work
from storage.migrate import upgrade
from storage.models import Outbox, Run, StepRun
from storage.vocabulary import StepKind

TOKEN = "xoxb-emulator"
TEAM = "T0BATON"
OWNER = User("U0OWNER", "owner", real_name="Run Owner", tz="Europe/Berlin")
CHANNELS = 100
REPEATS = 4
TARGET = 1.2
LABELS = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
# A run whose one step is a timer: starting it sends its card and nothing else.
WORKFLOW = WorkflowDef(
    name="pause",
    title="A pause",
    steps=(StepDef(id="pause", title="Pause", kind=StepKind.WAIT, wait=timedelta(hours=1)),),
)


def channel_id(side: str, repeat: int, index: int) -> str:
    return f"C0{side.upper()}{repeat}X{index:03d}"


# -- the emulator's process ------------------------------------------------------------------


async def _emulate(conn: Connection) -> None:
    channels = [
        Channel(channel_id(side, repeat, i), f"{side}-{repeat}-{i:03d}", (OWNER.id,))
        for side in ("base", "baton")
        for repeat in range(REPEATS)
        for i in range(CHANNELS)
    ]
    async with SlackEmulator(users=(OWNER,), channels=channels) as emulator:
        emulator.enforce_pacing(1.0)
        conn.send(emulator.api_url)
        while await asyncio.to_thread(conn.recv) is not None:
            posts = emulator.calls_to("chat.postMessage")
            conn.send(
                {
                    "posted": sum(1 for call in posts if call.status == 200 and call.ok),
                    "refused": sum(1 for call in posts if call.status == 429),
                    "too_close": len(emulator.pacing_violations(1.0)),
                }
            )


def emulate(conn: Connection) -> None:
    asyncio.run(_emulate(conn))


# -- Baton and the floor ---------------------------------------------------------------------


@asynccontextmanager
async def _baton(api_url: str, backend: str) -> AsyncIterator[Baton]:
    async with scratch_database(backend) as database_url:
        settings = Settings(
            _env_file=None,
            SLACK_BOT_TOKEN=TOKEN,
            SLACK_SIGNING_SECRET="bench",
            SLACK_API_URL=api_url,
            BATON_DATABASE_URL=database_url,
        )
        # Not started: the bench runs the deliverer's loop itself, paced as in production.
        baton = create_app(settings, clock=ManualClock(START), channel_interval=1.0)
        await upgrade(baton.runtime.engine)
        try:
            yield baton
        finally:
            await baton.runtime.engine.dispose()


async def _start_runs(baton: Baton, repeat: int) -> list[int]:
    actor = Actor(TEAM, OWNER.id)
    runs = []
    for i in range(CHANNELS):
        request = RunRequest(WORKFLOW.name, {}, channel_id("baton", repeat, i))
        runs.append(await start_run(baton.runtime, actor, request, ""))
    return [run.id for run in runs if run.id is not None]


async def _cards(baton: Baton, run_ids: list[int]) -> list[tuple[str, list[dict[str, Any]]]]:
    """The cards Baton is about to post, rendered the way its deliverer renders them."""
    async with unit_of_work(baton.runtime.sessions) as session:
        runs = (await session.exec(select(Run).where(col(Run.id).in_(run_ids)))).all()
        steps = (await session.exec(select(StepRun).where(col(StepRun.run_id).in_(run_ids)))).all()
    by_run: dict[int, list[StepRun]] = {}
    for step in steps:
        by_run.setdefault(step.run_id, []).append(step)
    now = baton.runtime.clock.now()
    templates = baton.runtime.templates
    return [run_card(templates, run, by_run.get(run.id or 0, []), now) for run in runs]


async def _floor(client: AsyncWebClient, repeat: int, cards: list[Any]) -> float:
    started = time.perf_counter()
    await asyncio.gather(
        *(
            client.chat_postMessage(channel=channel_id("base", repeat, i), text=text, blocks=blocks)
            for i, (text, blocks) in enumerate(cards)
        )
    )
    return time.perf_counter() - started


async def _deliver(baton: Baton) -> float:
    """What the deliverer's loop does when woken: claim and deliver until nothing is due."""
    started = time.perf_counter()
    while await baton.deliverer.deliver_due():
        pass
    elapsed = time.perf_counter() - started
    if await _unsent(baton):
        raise RuntimeError("Baton left notifications undelivered (deferred or failed)")
    return elapsed


async def _unsent(baton: Baton) -> int:
    async with unit_of_work(baton.runtime.sessions) as session:
        rows = (await session.exec(select(Outbox).where(Outbox.state != "sent"))).all()
    return len(rows)


async def _measure(backend: str) -> tuple[float, float]:
    """(Baton's best delivery, the best floor) in seconds."""
    async with running(emulate) as emulator:
        api_url = await emulator.answer()
        floors, deliveries = await _alternate(api_url, backend)
        report = await emulator.ask("report")
    expected = 2 * CHANNELS * REPEATS
    if report["posted"] != expected or report["refused"] or report["too_close"]:
        raise RuntimeError(f"expected {expected} posts, no 429 and no pacing breach: {report}")
    return min(deliveries), min(floors)


async def _alternate(api_url: str, backend: str) -> tuple[list[float], list[float]]:
    floors, deliveries = [], []
    async with _baton(api_url, backend) as baton:
        await define(baton.runtime, Actor(TEAM, OWNER.id, is_admin=True), WORKFLOW)
        client = AsyncWebClient(token=TOKEN, base_url=api_url)
        for repeat in range(REPEATS):
            run_ids = await _start_runs(baton, repeat)
            cards = await _cards(baton, run_ids)
            if repeat % 2 == 0:
                floors.append(await _floor(client, repeat, cards))
                deliveries.append(await _deliver(baton))
            else:
                deliveries.append(await _deliver(baton))
                floors.append(await _floor(client, repeat, cards))
    return floors, deliveries


async def run() -> list[Row]:
    rows = []
    for backend in await backends():
        baton, floor = await _measure(backend)
        name = f"outbox: 1 message to each of 100 channels ({LABELS[backend]})"
        rows.append(Row.of(name, baton * 1000, floor * 1000, TARGET))
    return rows


if __name__ == "__main__":
    from bench.table import format_table

    print(format_table(asyncio.run(run())))
