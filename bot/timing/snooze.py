"""Snoozing reminders: the Snooze buttons put a person's reminders back for an hour or until
their next day's start of work, and hold every other reminder of those steps for them until
then (a Timer row of kind SNOOZE in state HELD, never swept; see `reminders.held_until`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import col, select

from bot.runtime import Runtime
from bot.timing.reminders import HELD, HOLD_KIND, hours_of
from storage.db import unit_of_work
from storage.models import Run, StepRun, Timer
from storage.vocabulary import TimerState

SNOOZE = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Snoozed:
    until: datetime
    steps: list[tuple[str, str]]  # (run key, step key), for the answer


async def snooze(
    runtime: Runtime, *, team_id: str, user_id: str, timer_ids: list[int], tomorrow: bool
) -> Snoozed:
    """Put the person's own reminders back to pending, due again in an hour or at their next
    day's start of work. A second click finds them pending already and changes nothing."""
    person = await runtime.directory.person(team_id, user_id)
    now = runtime.clock.now()
    until = hours_of(person).next_day_start(now) if tomorrow else now + SNOOZE
    async with unit_of_work(runtime.sessions) as session:
        result = await session.exec(
            update(Timer)
            .where(
                col(Timer.id).in_(timer_ids),
                col(Timer.team_id) == team_id,
                col(Timer.recipient_id) == user_id,
                col(Timer.state) == TimerState.FIRED,
            )
            .values(state=TimerState.PENDING, due_at=until, fired_at=None, claimed_by=None)
            .returning(col(Timer.step_run_id))
        )
        step_ids = {int(i) for i in result.scalars().all() if i is not None}
        for step_id in sorted(step_ids):
            session.add(_hold(team_id, user_id, step_id, until, now))
        named = (
            (
                await session.exec(
                    select(Run.key, StepRun.step_key)
                    .join(Run, col(Run.id) == col(StepRun.run_id))
                    .where(col(StepRun.id).in_(step_ids))
                    .order_by(col(Run.key), col(StepRun.position))
                )
            ).all()
            if step_ids
            else []
        )
    return Snoozed(until, [(run_key, step_key) for run_key, step_key in named])


def _hold(team_id: str, user_id: str, step_id: int, until: datetime, now: datetime) -> Timer:
    return Timer(
        team_id=team_id,
        kind=HOLD_KIND,
        step_run_id=step_id,
        recipient_id=user_id,
        due_at=until,
        state=HELD,
        created_at=now,
    )
