"""Run use cases: start, cancel, look up, history."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.errors import Conflict, Forbidden, NotFound, UsageError
from bot.core.states import PEOPLE_KINDS
from bot.language import ParamType, WorkflowDef, fill_title
from bot.people.permissions import Actor, can_manage_run, require_runner
from bot.runs.engine import (
    LockedRun,
    advance,
    finish_open_steps,
    lock_run,
    tell_card,
    tell_thread,
)
from bot.runs.paging import Page
from bot.runtime import Runtime
from bot.slack.text import escape, mention
from bot.work import Work, begin
from bot.workflows.store import archived_message, find_version, find_workflow, load_definition
from storage.db import unit_of_work
from storage.models import AuditEvent, Run, StepRun, Workflow
from storage.vocabulary import AssigneeKind, RunState, StepState

USER_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")


@dataclass(frozen=True, slots=True)
class RunRequest:
    name: str
    params: Mapping[str, str]
    channel_id: str  # where it was asked for: the card goes here unless a channel is named
    deadline: datetime | None = None
    # A `#channel` the command named: it wins over the workflow's own (default) channel.
    chosen_channel: str | None = None


def _param_values(defn: WorkflowDef, given: Mapping[str, str], usage: str) -> dict[str, str]:
    declared = {p.name: p for p in defn.params}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        known = ", ".join(f"{name}=" for name in declared) or "none"
        raise UsageError(
            f"`{defn.name}` has no parameter {', '.join(unknown)}. Its parameters: {known}", usage
        )
    missing = [p.name for p in defn.params if p.required and not given.get(p.name)]
    if missing:
        example = " ".join(
            f"{name}=@someone" if declared[name].type == ParamType.USER else f"{name}=..."
            for name in missing
        )
        raise UsageError(f"`{defn.name}` needs {', '.join(missing)}: add `{example}`", usage)
    values = dict(given)
    for name, value in given.items():
        if declared[name].type == ParamType.USER:
            match = USER_MENTION.fullmatch(value.strip())
            if match is None:
                raise UsageError(f"{name} must be a person: write {name}=@someone", usage)
            values[name] = match.group(1)
    return values


def _display_params(defn: WorkflowDef, values: Mapping[str, str]) -> dict[str, str]:
    """What `{param}` shows in titles: people as mentions, text escaped as typed, and nothing
    for an optional parameter left out (its placeholder disappears from the title)."""
    types = {p.name: p.type for p in defn.params}
    shown = {p.name: "" for p in defn.params}
    shown.update(
        (k, mention(v) if types.get(k) == ParamType.USER and v else escape(v))
        for k, v in values.items()
    )
    return shown


def _step_rows(run: Run, defn: WorkflowDef, values: Mapping[str, str]) -> list[StepRun]:
    shown = _display_params(defn, values)
    rows = []
    for position, step in enumerate(defn.steps):
        kind: AssigneeKind | None = None
        who: str | None = None
        if step.kind in PEOPLE_KINDS:
            assignee = step.assignee
            if assignee is None:
                kind, who = AssigneeKind.USER, run.owner_id
            elif assignee.kind == AssigneeKind.PARAM:  # an optional one not given: the owner
                who = values.get(assignee.value) or run.owner_id
                kind = AssigneeKind.USER
            else:
                kind, who = assignee.kind, assignee.value
        assert run.id is not None
        rows.append(
            StepRun(
                team_id=run.team_id,
                run_id=run.id,
                position=position,
                step_key=step.id,
                title=fill_title(escape(step.title), shown),
                kind=step.kind,
                assignee_kind=kind,
                assignee_id=who,
                hook=step.hook,
                after=list(step.after),
                due_seconds=int(step.due.total_seconds()) if step.due else None,
                wait_seconds=int(step.wait.total_seconds()) if step.wait else None,
                state=StepState.WAITING,
            )
        )
    return rows


async def start_run(runtime: Runtime, actor: Actor, request: RunRequest, usage: str) -> Run:
    """Start a run in a transaction of its own (the `run` command)."""
    async with begin(runtime) as work:
        return await add_run(work, runtime, actor, request, usage)


async def add_run(
    work: Work, runtime: Runtime, actor: Actor, request: RunRequest, usage: str
) -> Run:
    """Start a run inside the caller's transaction (a schedule's claim, say), so the run and
    what caused it commit together.

    A caller that carries on with its transaction after a BatonError (no such workflow, a
    parameter missing) calls this in a savepoint, so no half-started run can commit.
    """
    now = work.now
    workflow = await find_workflow(work.session, team_id=actor.team_id, name=request.name)
    if workflow is None:
        raise NotFound(
            await archived_message(work.session, team_id=actor.team_id, name=request.name)
            or f"There is no workflow named `{escape(request.name)}`. `/baton list` shows them."
        )
    await require_runner(runtime, actor, workflow)  # the workflow's `runners`, if it has any
    version = await find_version(work.session, workflow=workflow)
    assert version is not None and workflow.id is not None
    defn = await load_definition(work.session, workflow=workflow, version=version)
    values = _param_values(defn, request.params, usage)
    # An atomic increment: runs started at the same moment each get their own number.
    claimed = await work.session.exec(
        update(Workflow)
        .where(col(Workflow.id) == workflow.id)
        .values(next_run_number=col(Workflow.next_run_number) + 1)
        .returning(col(Workflow.next_run_number))
    )
    number = int(claimed.scalar_one()) - 1
    run = Run(
        team_id=actor.team_id,
        workflow_id=workflow.id,
        version_id=version.id or 0,
        number=number,
        key=f"{workflow.name}-{number}",
        title=fill_title(escape(defn.title), _display_params(defn, values)),
        owner_id=actor.user_id,
        channel_id=request.chosen_channel or defn.channel or request.channel_id,
        params=values,
        state=RunState.ACTIVE,
        deadline=request.deadline,
        created_at=now,
    )
    work.session.add(run)
    await work.session.flush()
    steps = _step_rows(run, defn, values)
    work.session.add_all(steps)
    await work.session.flush()
    work.audit(
        team_id=run.team_id,
        run_id=run.id,
        actor_id=actor.user_id,
        action="run.started",
        version=version.number,
        params=values,
    )
    tell_card(work, run)
    await advance(work, LockedRun(run, steps), actor.user_id)
    return run


async def cancel_run(runtime: Runtime, actor: Actor, key: str, reason: str) -> Run:
    async with begin(runtime) as work:
        locked = await lock_run(work.session, team_id=actor.team_id, key=key)
        run = locked.run
        workflow = (
            await work.session.exec(select(Workflow).where(Workflow.id == run.workflow_id))
        ).one()
        if not can_manage_run(actor, run, workflow):
            raise Forbidden(
                f"Only the run's owner (<@{run.owner_id}>), the workflow's editors and admins "
                f"may cancel `{key}`."
            )
        if run.state != RunState.ACTIVE:
            raise Conflict(f"`{key}` is already {run.state}; nothing to cancel.")
        now = work.now
        run.state = RunState.CANCELLED
        run.reason = reason or None
        run.finished_at = now
        work.session.add(run)
        await finish_open_steps(work, locked, StepState.CANCELLED)
        work.audit(
            team_id=run.team_id,
            run_id=run.id,
            actor_id=actor.user_id,
            action="run.cancelled",
            reason=reason,
        )
        tell_card(work, run)
        why = f": {escape(reason)}" if reason else ""
        tell_thread(work, run, f"Cancelled by <@{actor.user_id}>{why}")
    return run


async def _find_run(session: AsyncSession, team_id: str, key: str) -> Run:
    run = (await session.exec(select(Run).where(Run.team_id == team_id, Run.key == key))).first()
    if run is None:
        raise NotFound(f"There is no run `{key}` in this workspace.")
    return run


async def get_run(runtime: Runtime, team_id: str, key: str) -> LockedRun:
    """A run and its steps, read without taking the lock (for showing, not changing)."""
    async with unit_of_work(runtime.sessions) as session:
        run = await _find_run(session, team_id, key)
        steps = (
            await session.exec(
                select(StepRun).where(StepRun.run_id == run.id).order_by(col(StepRun.position))
            )
        ).all()
    return LockedRun(run, list(steps))


async def active_page(
    runtime: Runtime, team_id: str, channel_id: str, choose: Callable[[int], Page]
) -> tuple[Page, list[LockedRun]]:
    """A page of the channel's active runs with their steps, oldest first (the digest's order);
    `choose` picks the page from how many there are (and may refuse)."""
    async with unit_of_work(runtime.sessions) as session:
        active = (
            col(Run.team_id) == team_id,
            col(Run.state) == RunState.ACTIVE,
            col(Run.channel_id) == channel_id,
        )
        total = (await session.exec(select(func.count()).select_from(Run).where(*active))).one()
        page = choose(int(total))
        query = select(Run).where(*active).order_by(col(Run.created_at), col(Run.id))
        runs = (await session.exec(query.offset(page.start).limit(page.stop - page.start))).all()
        ids = [run.id for run in runs]
        steps = (
            (
                await session.exec(
                    select(StepRun)
                    .where(col(StepRun.run_id).in_(ids))
                    .order_by(col(StepRun.position))
                )
            ).all()
            if ids
            else []
        )
    by_run: dict[int, list[StepRun]] = {}
    for step in steps:
        by_run.setdefault(step.run_id, []).append(step)
    return page, [LockedRun(run, by_run.get(run.id or 0, [])) for run in runs]


async def history(
    runtime: Runtime, team_id: str, key: str, choose: Callable[[int], Page]
) -> tuple[Run, Page, list[AuditEvent]]:
    """A page of the run's events, oldest first; `choose` picks the page from how many events
    there are (and may refuse), in the same transaction, so the page and its count agree."""
    async with unit_of_work(runtime.sessions) as session:
        run = await _find_run(session, team_id, key)
        of_run = (col(AuditEvent.team_id) == team_id, col(AuditEvent.run_id) == run.id)
        total = (
            await session.exec(select(func.count()).select_from(AuditEvent).where(*of_run))
        ).one()
        page = choose(int(total))
        events = (
            await session.exec(
                select(AuditEvent)
                .where(*of_run)
                .order_by(col(AuditEvent.id))
                .offset(page.start)
                .limit(page.stop - page.start)
            )
        ).all()
    return run, page, list(events)
