"""The sweeper on a real database: claims, a failing handler, kinds nobody handles."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlmodel import col, select

from bot.core.clock import ManualClock
from bot.runtime import Runtime
from bot.timing.sweep import Sweeper
from bot.work import Work
from storage.db import unit_of_work
from storage.models import AuditEvent, Timer
from storage.vocabulary import TimerKind
from tests.stack import START

NOW = START  # the runtime fixture's clock
# Timer kinds for a handler the test registers itself, and for one nobody handles here.
PING = TimerKind.WAIT
OTHER = TimerKind.HOOK_CALL


async def add_timers(runtime: Runtime, *specs: tuple[TimerKind, timedelta]) -> None:
    async with unit_of_work(runtime.sessions) as session:
        for kind, offset in specs:
            session.add(Timer(team_id="T0", kind=kind, due_at=NOW + offset, created_at=NOW))


async def timers(runtime: Runtime) -> list[Timer]:
    async with unit_of_work(runtime.sessions) as session:
        return list((await session.exec(select(Timer).order_by(col(Timer.id)))).all())


async def notes(runtime: Runtime) -> list[str]:
    async with unit_of_work(runtime.sessions) as session:
        return [e.action for e in (await session.exec(select(AuditEvent))).all()]


async def test_due_timers_fire_once_and_later_ones_wait(runtime: Runtime) -> None:
    seen: list[tuple[int | None, TimerKind]] = []

    async def note(work: Work, runtime: Runtime, timer: Timer) -> None:
        assert timer.state == "fired" and timer.fired_at == runtime.clock.now()
        seen.append((timer.id, timer.kind))
        work.session.add(AuditEvent(team_id="T0", action=f"saw.{timer.id}", created_at=NOW))

    sweeper = Sweeper(runtime)
    sweeper.on_timer(PING, note)
    await add_timers(
        runtime,
        (PING, -timedelta(minutes=5)),
        (PING, timedelta(0)),
        (PING, timedelta(hours=1)),
        (OTHER, -timedelta(hours=1)),
    )
    assert await sweeper.sweep() == 2
    assert await sweeper.sweep() == 0
    assert seen == [(1, PING), (2, PING)]
    assert sorted(await notes(runtime)) == ["saw.1", "saw.2"]
    states = [(t.kind, t.state, t.claimed_by) for t in await timers(runtime)]
    worker = runtime.worker_id
    assert states == [
        (PING, "fired", worker),
        (PING, "fired", worker),
        (PING, "pending", None),
        (OTHER, "pending", None),  # no handler: left alone
    ]
    assert isinstance(runtime.clock, ManualClock)
    runtime.clock.advance(timedelta(hours=1))
    assert await sweeper.sweep() == 1


async def test_a_failing_handler_undoes_only_its_own_timer(runtime: Runtime) -> None:
    broken = {2}

    async def flaky(work: Work, _runtime: Runtime, timer: Timer) -> None:
        work.session.add(AuditEvent(team_id="T0", action=f"saw.{timer.id}", created_at=NOW))
        await work.session.flush()
        if timer.id in broken:
            raise RuntimeError("Slack is down")

    sweeper = Sweeper(runtime)
    sweeper.on_timer(PING, flaky)
    await add_timers(runtime, *[(PING, -timedelta(minutes=n)) for n in (3, 2, 1)])
    assert await sweeper.sweep() == 2
    # The failure's writes and its claim were rolled back; the others committed.
    assert sorted(await notes(runtime)) == ["saw.1", "saw.3"]
    assert [t.state for t in await timers(runtime)] == ["fired", "pending", "fired"]

    broken.clear()  # the next sweep tries it again, and only it
    assert await sweeper.sweep() == 1
    assert sorted(await notes(runtime)) == ["saw.1", "saw.2", "saw.3"]
    assert [t.state for t in await timers(runtime)] == ["fired", "fired", "fired"]


async def test_a_failing_tick_job_does_not_stop_the_others(runtime: Runtime) -> None:
    ran: list[str] = []

    async def broken(_runtime: Runtime, _now: datetime) -> int:
        raise RuntimeError("boom")

    async def counted(_runtime: Runtime, now: datetime) -> int:
        ran.append(now.isoformat())
        return 3

    sweeper = Sweeper(runtime)
    sweeper.on_tick("broken", broken)
    sweeper.on_tick("counted", counted)
    assert await sweeper.sweep() == 3
    assert ran == [NOW.isoformat()]
    with pytest.raises(ValueError, match="already registered"):
        sweeper.on_tick("counted", counted)
