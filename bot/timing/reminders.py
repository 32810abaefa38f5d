"""Reminders and escalations (SPEC section 5): firing them, and gathering what is due for one
person into one message.

A step with `due` gets timers from the engine: `due_soon` (80% of its window) and `overdue`
(the due time). When `overdue` fires it plans one `repeat` per working day after the due time
(at most three) and an `escalation` to the run owner `escalation_working_days` after it. A
step-level timer fans out to the step's current people as one timer row each (recipient set):
sent now inside their working hours, else moved to their next start of work (or the end of
their time away). Whatever is due for one person in one sweep goes out as one message.

Firing runs in the sweep's write transaction, so it only reads the database: before each
batch, `look_up_people` (outside any transaction) brings everyone the due reminders may reach
up to date in the directory, asking Slack (users.info, a group's members) there, once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.holders import holders
from bot.core.states import OPEN_STATES
from bot.core.working_hours import WorkingHours
from bot.notify.deliverer import Deliverer
from bot.notify.handler import Delivery
from bot.notify.outbox import AT_ONCE
from bot.notify.payloads import Reminder
from bot.people.directory import PERSON_TTL
from bot.render.reminders import TEMPLATE, Due, reminder_message
from bot.runtime import Runtime
from bot.timing import waits
from bot.timing.sweep import Sweeper
from bot.work import Work, begin
from storage.db import is_postgres, unit_of_work
from storage.models import Outbox, Person, Run, StepRun, Timer, Workspace
from storage.vocabulary import Note, NoteState, RunState, TimerKind, TimerState

log = logging.getLogger("baton.reminders")

REMINDER_KINDS = (TimerKind.DUE_SOON, TimerKind.OVERDUE, TimerKind.REPEAT, TimerKind.ESCALATION)
MAX_REPEATS = 3
# A snooze is kept as a Timer row of kind SNOOZE in state HELD (never swept): until its
# due_at, every reminder of its step for its recipient waits, whichever timer it comes from.
HOLD_KIND = TimerKind.SNOOZE
HELD = TimerState.HELD
# A reminder message's next_attempt_at while its sweep is still adding to it (never reached).
UNTIL_SWEPT = datetime(9999, 1, 1, tzinfo=UTC)


def hours_of(person: Person) -> WorkingHours:
    """The person's working hours, from their row."""
    return WorkingHours.of(person.tz, person.work_start, person.work_end, person.work_days)


def _is_open(step: StepRun, run: Run) -> bool:
    return run.state == RunState.ACTIVE and step.state in OPEN_STATES


# -- firing -----------------------------------------------------------------------------------


async def fire_reminder(work: Work, runtime: Runtime, timer: Timer) -> None:
    """The sweep's handler for every reminder kind; runs in the transaction that claimed it."""
    now = work.now
    step = await work.session.get(StepRun, timer.step_run_id) if timer.step_run_id else None
    run = await work.session.get(Run, step.run_id) if step else None
    if step is None or run is None or not _is_open(step, run) or _superseded(timer, step, now):
        timer.state = TimerState.DROPPED
        work.session.add(timer)
        return
    if timer.recipient_id is None:
        await _plan_follow_ups(work.session, runtime, timer, step, run, now)
    targets = await _targets(runtime, timer, step, run)
    if not targets:
        timer.state = TimerState.DROPPED  # nobody to tell: the step moved on to someone else
        work.session.add(timer)
    for user_id in targets:
        person = await _person(work.session, run.team_id, user_id)
        later = _deliverable_at(person, now, await held_until(work.session, user_id, step, now))
        own = timer if timer.recipient_id is not None else _child(runtime, timer, user_id, now)
        if later is None:
            own.state, own.fired_at, own.claimed_by = TimerState.FIRED, now, runtime.worker_id
        else:
            own.state, own.due_at, own.fired_at, own.claimed_by = (
                TimerState.PENDING,
                later,
                None,
                None,
            )
        work.session.add(own)
        await work.session.flush()
        if later is None:
            await _add_to_message(work, runtime, run.team_id, user_id, own)


def _superseded(timer: Timer, step: StepRun, now: datetime) -> bool:
    """A "due soon" that reaches someone only after the due time says nothing new."""
    return timer.kind == TimerKind.DUE_SOON and step.due_at is not None and now >= step.due_at


def _child(runtime: Runtime, timer: Timer, user_id: str, now: datetime) -> Timer:
    return Timer(
        team_id=timer.team_id,
        kind=timer.kind,
        run_id=timer.run_id,
        step_run_id=timer.step_run_id,
        recipient_id=user_id,
        due_at=now,
        attempt=timer.attempt,
        created_at=now,
    )


async def _current_people(runtime: Runtime, step: StepRun) -> list[str]:
    held = holders(step)
    if held.group:
        return sorted(await runtime.directory.group_members(step.team_id, held.group))
    return [held.user] if held.user else []


async def _targets(runtime: Runtime, timer: Timer, step: StepRun, run: Run) -> list[str]:
    current = await _current_people(runtime, step)
    if timer.kind == TimerKind.ESCALATION:
        if current == [run.owner_id]:
            return []  # the owner has the step themself: their own reminders already say it
        return [run.owner_id] if timer.recipient_id in (None, run.owner_id) else []
    if timer.recipient_id is not None:
        return [timer.recipient_id] if timer.recipient_id in current else []
    return current


async def held_until(
    session: AsyncSession, user_id: str, step: StepRun, now: datetime
) -> datetime | None:
    """When the person's snooze of this step ends, if one is running."""
    until = (
        await session.exec(
            select(func.max(Timer.due_at)).where(
                col(Timer.kind) == HOLD_KIND,
                col(Timer.state) == HELD,
                col(Timer.step_run_id) == step.id,
                col(Timer.recipient_id) == user_id,
            )
        )
    ).first()
    return until if until is not None and until > now else None


def _deliverable_at(person: Person, now: datetime, held: datetime | None) -> datetime | None:
    """None when the person can be reminded now; else when they next can (after their
    snooze, back from being away, at the start of their working hours)."""
    start = now
    if person.away_until is not None and person.away_until > now:
        start = person.away_until
    if held is not None and held > start:
        start = held
    at = hours_of(person).next_start(start)
    return None if at <= now else at


async def _plan_follow_ups(
    session: AsyncSession, runtime: Runtime, timer: Timer, step: StepRun, run: Run, now: datetime
) -> None:
    if timer.kind not in (TimerKind.OVERDUE, TimerKind.REPEAT) or step.due_at is None:
        return
    # Working days are counted in the calendar of whoever has the step.
    anchor = holders(step).user
    hours = hours_of(await _person(session, run.team_id, anchor or run.owner_id))
    sent = timer.attempt if timer.kind == TimerKind.REPEAT else 0
    # After downtime the repeats already missed are not sent one per sweep: the next one
    # planned is the first still ahead.
    for number in range(sent + 1, MAX_REPEATS + 1):
        at = hours.working_days_after(step.due_at, number)
        if at > now:
            session.add(_follow_up(step, TimerKind.REPEAT, at, now, number))
            break
    if timer.kind == TimerKind.OVERDUE:
        workspace = await session.get(Workspace, run.team_id)
        days = workspace.escalation_working_days if workspace is not None else 1
        if days > 0:
            at = max(hours.working_days_after(step.due_at, days), now)
            # The escalation's `attempt` holds the delay it was planned with, for its message.
            session.add(_follow_up(step, TimerKind.ESCALATION, at, now, days))


def _follow_up(step: StepRun, kind: TimerKind, at: datetime, now: datetime, attempt: int) -> Timer:
    return Timer(
        team_id=step.team_id,
        kind=kind,
        run_id=step.run_id,
        step_run_id=step.id,
        due_at=at,
        attempt=attempt,
        created_at=now,
    )


async def look_up_people(runtime: Runtime, timers: Sequence[Timer]) -> None:
    """The sweep's preparation for a batch of due reminders, outside its transaction: everyone
    they may reach (and the run owners, whose calendars plan escalations) gets a fresh row in
    the directory, so that firing them asks Slack nothing inside the write transaction."""
    step_ids = {timer.step_run_id for timer in timers if timer.step_run_id is not None}
    if not step_ids:
        return
    async with unit_of_work(runtime.sessions) as session:
        found = (
            await session.exec(
                select(StepRun, Run)
                .join(Run, col(Run.id) == col(StepRun.run_id))
                .where(col(StepRun.id).in_(step_ids))
            )
        ).all()
    people = {(timer.team_id, timer.recipient_id) for timer in timers if timer.recipient_id}
    for step, run in found:
        if _is_open(step, run):
            people.add((run.team_id, run.owner_id))
            people.update((run.team_id, user) for user in await _current_people(runtime, step))
    now = runtime.clock.now()
    async with unit_of_work(runtime.sessions) as session:
        known = (
            await session.exec(
                select(Person).where(
                    col(Person.team_id).in_({team for team, _ in people}),
                    col(Person.user_id).in_({user for _, user in people}),
                )
            )
        ).all()
    fresh = {
        (row.team_id, row.user_id)
        for row in known
        if row.fetched_at is not None and now - row.fetched_at < PERSON_TTL
    }
    for team_id, user_id in sorted(people - fresh):
        await runtime.directory.person(team_id, user_id)


async def _person(session: AsyncSession, team_id: str, user_id: str) -> Person:
    """The person's row, which `look_up_people` brought up to date before the transaction (one
    who became due since then has their row as it is, or the defaults: UTC, 09:00-18:00)."""
    row = (
        await session.exec(
            select(Person).where(Person.team_id == team_id, Person.user_id == user_id)
        )
    ).first()
    return row if row is not None else Person(team_id=team_id, user_id=user_id)


async def _add_to_message(
    work: Work, runtime: Runtime, team_id: str, user_id: str, timer: Timer
) -> None:
    """Join the person's reminder message that is still waiting to go out, or start one."""
    assert timer.id is not None
    query = (
        select(Outbox)
        .where(
            Outbox.team_id == team_id,
            Outbox.kind == Note.REMINDER,
            Outbox.conversation == user_id,
            Outbox.state == NoteState.PENDING,
            col(Outbox.claimed_by).is_(None),
        )
        .order_by(col(Outbox.id).desc())
        .limit(1)
    )
    if is_postgres(runtime.engine):
        # Waits for a replica adding to the same message; a deliverer's claim excludes it.
        query = query.with_for_update()
    waiting = (await work.session.exec(query)).first()
    if waiting is None:
        row = work.tell(
            team_id=team_id,
            conversation=user_id,
            note=Reminder(user_id=user_id, timer_ids=(timer.id,)),
        )
        # Held back until the sweep has handled all its batches, so that everything due for
        # the person in this sweep joins this one message.
        row.next_attempt_at = UNTIL_SWEPT
        return
    gathered = Reminder.decode(waiting.payload).timer_ids
    waiting.payload = Reminder(user_id=user_id, timer_ids=(*gathered, timer.id)).encode()
    work.session.add(waiting)


# -- the message ------------------------------------------------------------------------------


async def deliver_reminder(delivery: Delivery) -> None:
    """Render the message from the database as it is now: reminders whose step finished in
    the meantime are left out, and nothing is sent when none is left."""
    runtime, row = delivery.runtime, delivery.row
    note = Reminder.decode(row.payload)
    user_id, ids = note.user_id, note.timer_ids
    async with unit_of_work(runtime.sessions) as session:
        found = (
            await session.exec(
                select(Timer, StepRun, Run)
                .join(StepRun, col(StepRun.id) == col(Timer.step_run_id))
                .join(Run, col(Run.id) == col(StepRun.run_id))
                .where(col(Timer.id).in_(ids), Timer.state == TimerState.FIRED)
            )
        ).all()
    due = [Due(timer, step, run) for timer, step, run in found if _is_open(step, run)]
    if not due:
        return
    text, blocks = reminder_message(runtime.templates.macros(TEMPLATE), due)
    await delivery.post(user_id, text=text, blocks=blocks)


async def release_reminders(runtime: Runtime, now: datetime) -> int:
    """The sweep's timers are all handled: let the reminder messages it gathered go out (and
    any a sweep that died half-way left held)."""
    async with begin(runtime, now=now) as work:
        result = await work.session.exec(
            update(Outbox)
            .where(
                col(Outbox.kind) == Note.REMINDER,
                col(Outbox.state) == NoteState.PENDING,
                col(Outbox.next_attempt_at) == UNTIL_SWEPT,
            )
            .values(next_attempt_at=AT_ONCE)
            .execution_options(synchronize_session=False)
        )
        released = int(result.rowcount or 0)
        if released:
            work.wake()
    return released


def register(sweeper: Sweeper, deliverer: Deliverer) -> None:
    for kind in REMINDER_KINDS:
        sweeper.on_timer(kind, fire_reminder, prepare=look_up_people)
    sweeper.on_tick("release_reminders", release_reminders)
    sweeper.on_timer(TimerKind.WAIT, waits.finish_wait)
    deliverer.handle(Note.REMINDER, deliver_reminder)
