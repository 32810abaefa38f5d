"""Recurring runs: a `<when>` (`bot.timing.when`) in the scheduling user's zone, and a sweep job
that starts each occurrence's run exactly once.

Due times live in `schedule.next_fire_at` (UTC). A replica claims an occurrence by moving
`next_fire_at` on with a compare-and-set, so two replicas never both start it; after downtime
the next fire time is computed from now, so missed occurrences start one run, not one each.
The claim and the run it starts (or the note saying why none could) commit in one transaction.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.errors import BatonError, Forbidden, NotFound, UsageError
from bot.language import ParamType
from bot.notify.payloads import Direct
from bot.people.permissions import Actor, can_edit_workflow, require_editor
from bot.runs.engine import tell_thread
from bot.runs.lifecycle import RunRequest, add_run
from bot.runtime import Runtime
from bot.slack.text import escape
from bot.timing.sweep import Sweeper
from bot.timing.when import When, next_fire
from bot.work import Work, begin
from bot.workflows.store import archived_message, find_version, find_workflow, load_definition
from storage.db import is_postgres, unit_of_work
from storage.models import Schedule, Workflow
from storage.workspaces import installed

log = logging.getLogger("baton.schedules")

BATCH = 50
_USER_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")


# -- use cases --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Listed:
    schedule: Schedule
    workflow: str


async def add_schedule(
    runtime: Runtime,
    actor: Actor,
    *,
    name: str,
    when: When,
    params: dict[str, str],
    channel_id: str,
    chosen_channel: str | None,
    usage: str,
) -> Listed:
    zone = await runtime.directory.zone(actor.team_id, actor.user_id)
    now = runtime.clock.now()
    async with unit_of_work(runtime.sessions) as session:
        workflow = await find_workflow(session, team_id=actor.team_id, name=name)
        if workflow is None:
            raise NotFound(
                await archived_message(session, team_id=actor.team_id, name=name)
                or f"There is no workflow named `{escape(name)}`. `/baton list` shows them."
            )
        require_editor(actor, workflow)
        version = await find_version(session, workflow=workflow)
        assert version is not None and workflow.id is not None
        defn = await load_definition(session, workflow=workflow, version=version)
        _check_params({p.name: (p.type, p.required) for p in defn.params}, params, usage)
        row = Schedule(
            team_id=actor.team_id,
            workflow_id=workflow.id,
            spec=when.spec,
            cron=when.cron,
            tz=zone,
            params=params,
            # Where its runs go is settled now, as `run` settles it: a named channel, else the
            # workflow's own, else where the schedule was made.
            channel_id=chosen_channel or defn.channel or channel_id,
            created_by=actor.user_id,
            next_fire_at=next_fire(when.cron, zone, now),
            created_at=now,
        )
        session.add(row)
        await session.flush()
    return Listed(row, workflow.name)


def _check_params(
    declared: dict[str, tuple[ParamType, bool]], given: dict[str, str], usage: str
) -> None:
    """The run's parameters are checked now, so a typo fails here and not at 09:00 tomorrow."""
    unknown = sorted(set(given) - set(declared))
    if unknown:
        known = ", ".join(f"{name}=" for name in declared) or "none"
        raise UsageError(f"No parameter {', '.join(unknown)}. Its parameters: {known}", usage)
    missing = [name for name, (_, required) in declared.items() if required and not given.get(name)]
    if missing:
        raise UsageError(f"Each run needs {', '.join(missing)}: add `{missing[0]}=...`", usage)
    for name, value in given.items():
        if declared[name][0] == ParamType.USER and not _USER_MENTION.fullmatch(value.strip()):
            raise UsageError(f"{name} must be a person: write {name}=@someone", usage)


async def list_schedules(runtime: Runtime, team_id: str) -> list[Listed]:
    async with unit_of_work(runtime.sessions) as session:
        rows = (
            await session.exec(
                select(Schedule, Workflow.name)
                .join(Workflow, col(Workflow.id) == col(Schedule.workflow_id))
                .where(Schedule.team_id == team_id, col(Schedule.active).is_(True))
                .order_by(col(Schedule.id))
            )
        ).all()
    return [Listed(schedule, name) for schedule, name in rows]


async def remove_schedule(runtime: Runtime, actor: Actor, schedule_id: int) -> Listed:
    async with unit_of_work(runtime.sessions) as session:
        found = (
            await session.exec(
                select(Schedule, Workflow)
                .join(Workflow, col(Workflow.id) == col(Schedule.workflow_id))
                .where(
                    Schedule.id == schedule_id,
                    Schedule.team_id == actor.team_id,
                    col(Schedule.active).is_(True),
                )
            )
        ).first()
        if found is None:
            raise NotFound(f"There is no schedule {schedule_id}. `/baton schedules` lists them.")
        schedule, workflow = found
        if actor.user_id != schedule.created_by and not can_edit_workflow(actor, workflow):
            raise Forbidden(
                f"Only <@{schedule.created_by}>, who made schedule {schedule_id}, the editors of "
                f"`{workflow.name}` and admins may remove it."
            )
        await session.exec(
            update(Schedule)
            .where(col(Schedule.id) == schedule_id, col(Schedule.active).is_(True))
            .values(active=False, next_fire_at=None)
        )
    return Listed(schedule, workflow.name)


async def pause_workflow_schedules(session: AsyncSession, workflow_id: int) -> int:
    """While a workflow is archived its schedules wait (no next time) instead of firing and
    failing; returns how many were paused."""
    result = await session.exec(
        update(Schedule)
        .where(col(Schedule.workflow_id) == workflow_id, col(Schedule.active).is_(True))
        .values(next_fire_at=None)
    )
    return int(result.rowcount or 0)


async def resume_workflow_schedules(session: AsyncSession, workflow_id: int, now: datetime) -> int:
    """A restored workflow's paused schedules fire again from their next time after now."""
    paused = (
        await session.exec(
            select(Schedule).where(
                Schedule.workflow_id == workflow_id,
                col(Schedule.active).is_(True),
                col(Schedule.next_fire_at).is_(None),
            )
        )
    ).all()
    for schedule in paused:
        schedule.next_fire_at = next_fire(schedule.cron, schedule.tz, now)
        session.add(schedule)
    return len(paused)


# -- the sweep job ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Occurrence:
    schedule: Schedule
    workflow: str


async def fire_due_schedules(runtime: Runtime, now: datetime) -> int:
    """Start one run for every schedule whose time has come; returns how many started."""
    started = 0
    tried: set[int] = set()  # each schedule once a pass: its next time is after now anyway
    while True:
        due = await _due(runtime, now, tried)
        for occurrence in due:
            assert occurrence.schedule.id is not None
            tried.add(occurrence.schedule.id)
            try:
                started += await _fire(runtime, occurrence, now)
            except Exception:
                # Claim and run rolled back together: the next sweep starts it, once.
                log.exception("schedule %s could not fire; retried later", occurrence.schedule.id)
        if len(due) < BATCH:
            return started


async def _due(runtime: Runtime, now: datetime, tried: set[int]) -> list[_Occurrence]:
    """Due schedules, read without claiming them: `_fire` claims each in its own transaction."""
    async with unit_of_work(runtime.sessions) as session:
        query = (
            select(Schedule, Workflow.name)
            .join(Workflow, col(Workflow.id) == col(Schedule.workflow_id))
            .where(col(Schedule.active).is_(True), col(Schedule.next_fire_at) <= now)
            .where(installed(col(Schedule.team_id)))
            .order_by(col(Schedule.next_fire_at), col(Schedule.id))
            .limit(BATCH)
        )
        if tried:
            query = query.where(col(Schedule.id).not_in(tried))
        rows = (await session.exec(query)).all()
    return [_Occurrence(schedule, workflow) for schedule, workflow in rows]


async def _fire(runtime: Runtime, occurrence: _Occurrence, now: datetime) -> int:
    """Claim the occurrence and start its run (or tell its maker why not) in one transaction,
    so a crash in between neither loses the occurrence nor starts it twice."""
    schedule = occurrence.schedule
    team_id = schedule.team_id
    # Asked before the transaction: the directory may write a person's row in one of its own.
    actor = Actor(
        team_id, schedule.created_by, await runtime.directory.is_admin(team_id, schedule.created_by)
    )
    request = RunRequest(
        occurrence.workflow,
        schedule.params,
        schedule.channel_id or "",
        chosen_channel=schedule.channel_id,
    )
    async with begin(runtime, now=now) as work:
        if not await _claim(work.session, runtime, schedule, now):
            return 0
        try:
            # A savepoint: a run that cannot start leaves nothing behind, and the claim stands.
            async with work.session.begin_nested():
                run = await add_run(
                    work, runtime, actor, request, f"/baton schedule {occurrence.workflow}"
                )
        except BatonError as exc:
            await _report_failure(work, occurrence, str(exc))
            started = 0
        else:
            tell_thread(
                work,
                run,
                f"Started by schedule {schedule.id} ({schedule.spec}, {schedule.tz})",
            )
            started = 1
    return started


async def _claim(
    session: AsyncSession, runtime: Runtime, schedule: Schedule, now: datetime
) -> bool:
    """Compare-and-set on the fire time read: one replica wins each occurrence, and the next
    time is counted from now, so a long outage fires once, not once per miss. The claim is the
    transaction's first write, so on SQLite it takes the write lock before the savepoint."""
    if is_postgres(runtime.engine):
        # A replica starting this occurrence right now holds the row: leave it, don't wait.
        held = await session.exec(
            select(Schedule.id)
            .where(col(Schedule.id) == schedule.id)
            .with_for_update(skip_locked=True)
        )
        if held.first() is None:
            return False
    result = await session.exec(
        update(Schedule)
        .where(
            col(Schedule.id) == schedule.id,
            col(Schedule.next_fire_at) == schedule.next_fire_at,
            col(Schedule.active).is_(True),
        )
        .values(next_fire_at=next_fire(schedule.cron, schedule.tz, now), last_fired_at=now)
    )
    return bool(result.rowcount == 1)


async def _report_failure(work: Work, occurrence: _Occurrence, problem: str) -> None:
    """Tell the schedule's maker; a workflow that is gone also ends its schedule."""
    schedule = occurrence.schedule
    gone = (
        await find_workflow(work.session, team_id=schedule.team_id, name=occurrence.workflow)
        is None
    )
    if gone:
        await work.session.exec(
            update(Schedule)
            .where(col(Schedule.id) == schedule.id)
            .values(active=False, next_fire_at=None)
        )
    ending = " The schedule is removed." if gone else ""
    work.tell(
        team_id=schedule.team_id,
        conversation=schedule.created_by,
        note=Direct(
            user_id=schedule.created_by,
            text=f"Schedule {schedule.id} ({schedule.spec}) could not start a run of "
            f"`{occurrence.workflow}`: {problem}{ending}",
        ),
    )


def register(sweeper: Sweeper) -> None:
    sweeper.on_tick("schedules", fire_due_schedules)
