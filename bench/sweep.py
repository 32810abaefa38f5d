"""One sweep with 100,000 pending, not-yet-due reminders against one with 100.

`.venv/bin/python -m bench.sweep` seeds two databases that differ only in how many reminder
timers wait for a later day, then times a full sweep (every registered timer kind and tick job:
reminders, wait steps, schedules) that finds the same 20 due timers in each. The sweep reads
due rows through the (state, due_at) index, so its cost should not grow with the rows still
waiting. Target: at most 1.5. On SQLite always; on PostgreSQL too when it is reachable.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy import insert, text, update
from sqlalchemy.engine import make_url
from sqlmodel import col

from bench.table import Row, format_table
from bot.app.composition import build_runtime
from bot.config import Settings
from bot.core.clock import ManualClock
from bot.notify.deliverer import Deliverer
from bot.runtime import Runtime
from bot.timing import reminders, schedules
from bot.timing.sweep import Sweeper
from bot.work import Work
from storage.db import unit_of_work
from storage.migrate import upgrade
from storage.models import Timer
from storage.vocabulary import TimerKind, TimerState

TEAM = "T0BATON"
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
SMALL, LARGE = 100, 100_000
DUE = 20  # the same due work in both sweeps
# The due timers: a kind that no handler registered here (reminders, schedules) takes.
BENCH_KIND = TimerKind.HOOK_CALL
REPEATS = 15
TARGET = 1.5
CHUNK = 5_000
POSTGRES_URL = os.environ.get(
    "BATON_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


async def _handled(_work: Work, _runtime: Runtime, _timer: Timer) -> None:
    """The due timers' handler: the sweep's own cost is what is measured."""


def _timer(kind: TimerKind, due_at: datetime) -> dict[str, Any]:
    return {
        "team_id": TEAM,
        "kind": kind,
        "run_id": None,
        "step_run_id": None,
        "recipient_id": "U0ALICE",
        "due_at": due_at,
        "state": TimerState.PENDING,
        "attempt": 0,
        "claimed_by": None,
        "fired_at": None,
        "created_at": NOW,
    }


async def _seed(runtime: Runtime, waiting: int) -> None:
    kinds = (
        TimerKind.DUE_SOON,
        TimerKind.OVERDUE,
        TimerKind.REPEAT,
        TimerKind.ESCALATION,
        TimerKind.WAIT,
    )
    rows = [
        # Spread over the coming weeks, as reminders of many open steps would be.
        _timer(kinds[n % len(kinds)], NOW + timedelta(minutes=10 + n % 40_000))
        for n in range(waiting)
    ]
    async with unit_of_work(runtime.sessions) as session:
        await session.exec(
            insert(Timer),
            params=[_timer(BENCH_KIND, NOW - timedelta(minutes=1)) for _ in range(DUE)],
        )
        for start in range(0, len(rows), CHUNK):
            await session.exec(insert(Timer), params=rows[start : start + CHUNK])
    async with runtime.engine.connect() as connection:  # fresh planner statistics
        await connection.execute(text("ANALYZE"))
        await connection.commit()


async def _rearm(runtime: Runtime) -> None:
    """The due timers back to pending, found by their ids (the first DUE rows): a scan of
    the big table here would evict the index from the cache the sweep then reads."""
    async with unit_of_work(runtime.sessions) as session:
        await session.exec(
            update(Timer)
            .where(col(Timer.id) <= DUE)
            .values(state=TimerState.PENDING, fired_at=None, claimed_by=None)
        )


@asynccontextmanager
async def _sweeper(url: str, waiting: int) -> AsyncIterator[Sweeper]:
    settings = Settings(_env_file=None, BATON_DATABASE_URL=url, SLACK_BOT_TOKEN="xoxb-bench")
    runtime = build_runtime(settings, ManualClock(NOW))
    try:
        await upgrade(runtime.engine)
        await _seed(runtime, waiting)
        sweeper = Sweeper(runtime)
        reminders.register(sweeper, Deliverer(runtime))
        schedules.register(sweeper)
        sweeper.on_timer(BENCH_KIND, _handled)
        yield sweeper
    finally:
        await runtime.engine.dispose()


async def _sweep_ms(sweeper: Sweeper) -> float:
    await _rearm(sweeper.runtime)
    started = time.perf_counter()
    handled = await sweeper.sweep()
    elapsed = (time.perf_counter() - started) * 1000
    assert handled == DUE, f"the sweep should find exactly the {DUE} due timers, not {handled}"
    return elapsed


async def measure(small_url: str, large_url: str, backend: str) -> Row:
    async with _sweeper(small_url, SMALL) as small, _sweeper(large_url, LARGE) as large:
        await _sweep_ms(small)  # warm up: connections, compiled statements
        await _sweep_ms(large)
        # Turn about, so a busy machine slows both alike.
        pairs = [(await _sweep_ms(large), await _sweep_ms(small)) for _ in range(REPEATS)]
    measured = statistics.median(a for a, _ in pairs)
    baseline = statistics.median(b for _, b in pairs)
    return Row.of(f"sweep, 100,000 vs 100 pending timers ({backend})", measured, baseline, TARGET)


async def _with_postgres() -> Row | None:
    admin = (
        make_url(POSTGRES_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    try:
        conn = await asyncpg.connect(admin, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return None
    names = [f"baton_bench_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    try:
        for name in names:
            await conn.execute(f'CREATE DATABASE "{name}"')
        urls = [
            make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
            for name in names
        ]
        return await measure(urls[0], urls[1], "PostgreSQL")
    finally:
        for name in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


async def run() -> list[Row]:
    with tempfile.TemporaryDirectory() as folder:
        rows = [
            await measure(f"sqlite:///{folder}/small.db", f"sqlite:///{folder}/large.db", "SQLite")
        ]
    postgres = await _with_postgres()
    if postgres is not None:
        rows.append(postgres)
    return rows


if __name__ == "__main__":
    print(format_table(asyncio.run(run())))
