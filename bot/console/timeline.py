"""Business time in the console: the next moment Baton has due work, so `wait` can stop the
clock there, and where an earlier session left the clock.

In production the sweeper ticks every few seconds, so a reminder fires at its own time, and
a digest at its own. Jumping the console's clock straight to the end of a long wait would fire
them all at that one moment instead; stopping at each due time keeps the story true.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import col, select

from bot.core.clock import utc
from bot.runtime import Runtime
from storage.db import unit_of_work
from storage.models import DigestSubscription, Outbox, Run, Schedule, Timer
from storage.vocabulary import RunState, TimerState


async def next_due(runtime: Runtime, *, after: datetime) -> datetime | None:
    """The earliest due time of a pending timer, schedule or digest later than `after`."""
    queries = (
        select(func.min(Timer.due_at)).where(
            col(Timer.state) == TimerState.PENDING, col(Timer.due_at) > after
        ),
        select(func.min(Schedule.next_fire_at)).where(
            col(Schedule.active).is_(True), col(Schedule.next_fire_at) > after
        ),
        select(func.min(DigestSubscription.next_fire_at)).where(
            col(DigestSubscription.active).is_(True), col(DigestSubscription.next_fire_at) > after
        ),
    )
    found: list[datetime] = []
    async with unit_of_work(runtime.sessions) as session:
        for query in queries:
            moment = (await session.exec(query)).one()
            if moment is not None:
                found.append(utc(moment))
    return min(found, default=None)


@dataclass(frozen=True)
class Earlier:
    """What an earlier console session left in the database."""

    latest: datetime | None  # the last business moment anything was written at
    active_runs: int


async def earlier_session(runtime: Runtime, *, team_id: str) -> Earlier:
    async with unit_of_work(runtime.sessions) as session:
        written = (
            await session.exec(select(func.max(Outbox.created_at)).where(Outbox.team_id == team_id))
        ).one()
        fired = (
            await session.exec(select(func.max(Timer.fired_at)).where(Timer.team_id == team_id))
        ).one()
        active = (
            await session.exec(
                select(func.count())
                .select_from(Run)
                .where(Run.team_id == team_id, Run.state == RunState.ACTIVE)
            )
        ).one()
    moments = [utc(moment) for moment in (written, fired) if moment is not None]
    return Earlier(max(moments, default=None), int(active))
