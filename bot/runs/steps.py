"""Step use cases: everything a button or a step verb does, one locked transaction each."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.errors import Conflict, Forbidden
from bot.core.holders import holders
from bot.core.states import (
    CLAIMING_ACTIONS,
    RESENDING_ACTIONS,
    StepAction,
    TransitionRefused,
    allowed_actions,
    next_state,
)
from bot.notify.payloads import StepRefresh
from bot.people.permissions import SYSTEM_USER, Actor, actor_name, can_manage_run, is_assignee
from bot.runs.engine import (
    LockedRun,
    advance,
    cancel_timers,
    lock_run,
    make_ready,
    tell_card,
    tell_person,
    tell_step,
    tell_thread,
)
from bot.runtime import Runtime
from bot.slack.text import escape
from bot.work import Work, begin
from storage.models import Run, StepRun, Workflow
from storage.vocabulary import AssigneeKind, RunState, StepKind, StepState

# The states a person (or Baton) decided a step with.
_OUTCOMES = frozenset({StepState.DONE, StepState.SKIPPED, StepState.FAILED})
OWNER_ACTIONS = frozenset({StepAction.SKIP, StepAction.RETRY, StepAction.REASSIGN})

PAST_TENSE = {
    StepAction.START: "Started",
    StepAction.DONE: "Done",
    StepAction.BLOCK: "Blocked",
    StepAction.UNBLOCK: "Unblocked",
    StepAction.SKIP: "Skipped",
    StepAction.RETRY: "Retried",
    StepAction.APPROVE: "Approved",
    StepAction.REJECT: "Rejected",
    StepAction.REASSIGN: "Reassigned",
    StepAction.CLAIM: "Claimed",
    StepAction.COMPLETE: "Completed",
    StepAction.FAIL: "Failed",
}

RUN_ENDED = {
    RunState.ACTIVE: "is active",
    RunState.COMPLETED: "has completed",
    RunState.CANCELLED: "was cancelled",
    RunState.FAILED: "has failed",
}

# "... so you can't <phrase>."
ACTION_PHRASES = {
    StepAction.START: "start it",
    StepAction.DONE: "mark it done",
    StepAction.BLOCK: "mark it blocked",
    StepAction.UNBLOCK: "unblock it",
    StepAction.SKIP: "skip it",
    StepAction.RETRY: "retry it",
    StepAction.APPROVE: "approve it",
    StepAction.REJECT: "reject it",
    StepAction.REASSIGN: "reassign it",
    StepAction.CLAIM: "claim it",
    StepAction.COMPLETE: "complete it",
    StepAction.FAIL: "fail it",
}


@dataclass(frozen=True, slots=True)
class StepChange:
    action: StepAction
    reason: str = ""
    new_assignee: str | None = None
    output: dict[str, object] | None = None


@dataclass(frozen=True, slots=True)
class Changed:
    run_key: str
    step_key: str
    title: str
    state: StepState
    message: str


async def _check_allowed(
    session: AsyncSession,
    runtime: Runtime,
    actor: Actor,
    locked: LockedRun,
    step: StepRun,
    change: StepChange,
) -> None:
    if actor.is_admin:
        return
    run = locked.run
    held = holders(step)
    if change.action in OWNER_ACTIONS:
        if actor.user_id == run.owner_id:
            return
        # Whoever holds a step may hand it on (the Reassign… button in their DM).
        if change.action == StepAction.REASSIGN and actor.user_id == held.user:
            return
        workflow = (
            await session.exec(select(Workflow).where(Workflow.id == run.workflow_id))
        ).one()
        if can_manage_run(actor, run, workflow):
            return
        holder_too = " and the step's assignee" if change.action == StepAction.REASSIGN else ""
        raise Forbidden(
            f"Only the run's owner (<@{run.owner_id}>), the owner and editors of "
            f"`{workflow.name}`{holder_too} and workspace admins may "
            f"{change.action.value} steps in `{run.key}`."
        )
    members = frozenset[str]()
    if held.group:
        members = await runtime.directory.group_members(run.team_id, held.group)
    if not is_assignee(actor, step, members):
        who = f"members of <!subteam^{held.group}>" if held.group else f"<@{held.user}>"
        raise Forbidden(
            f"`{step.step_key}` in `{run.key}` is for {who}, "
            f"so you can't {ACTION_PHRASES[change.action]}."
        )


def _refusal(step: StepRun, reason: str) -> Conflict:
    return Conflict(f"{reason}; nothing was changed. (`{step.step_key}`)")


def _already(step: StepRun, refused: TransitionRefused) -> str:
    """Why an action on a finished step changes nothing, naming who finished it ("This step
    was already rejected by @carol"), or the state machine's own sentence."""
    state = step.state
    by = step.outcome_by
    if state not in _OUTCOMES or not by:
        return str(refused)
    if by == SYSTEM_USER:  # an integration or a timer
        return "This step has already failed" if state == StepState.FAILED else str(refused)
    approval = step.kind == StepKind.APPROVAL
    verb = {
        StepState.DONE: "approved" if approval else "done",
        StepState.SKIPPED: "skipped",
        StepState.FAILED: "rejected" if approval else "failed",
    }[state]
    return f"This step was already {verb} by <@{by}>"


async def change_step(
    runtime: Runtime, actor: Actor, run_key: str, step_key: str, change: StepChange
) -> Changed:
    """Change a step in a transaction of its own."""
    try:
        async with begin(runtime) as work:
            changed = await apply_change(work, runtime, actor, run_key, step_key, change)
    except StaleDataError:
        raise Conflict("That step changed at the same moment; nothing was changed.") from None
    return changed


async def apply_change(
    work: Work,
    runtime: Runtime,
    actor: Actor,
    run_key: str,
    step_key: str,
    change: StepChange,
) -> Changed:
    """Change a step inside the caller's transaction (a sweep's claim, say), so the change and
    what caused it commit together."""
    now = work.now
    locked = await lock_run(work.session, team_id=actor.team_id, key=run_key)
    run, step = locked.run, locked.step(step_key)
    reviving = _revives(run, step, change.action)
    await _check_allowed(work.session, runtime, actor, locked, step, change)
    new_state = _next_state(step, change.action)
    if reviving:
        run.state = RunState.ACTIVE
        run.finished_at = None
        work.session.add(run)
    if change.action in CLAIMING_ACTIONS and holders(step).group is not None:
        step.claimed_by = actor.user_id
    _EFFECTS.get(change.action, _no_effect)(step, change, now)
    if new_state in _OUTCOMES:
        await _record_outcome(work.session, step, actor, change, now)
    step.state = new_state
    work.session.add(step)
    _tell_changed(work, run, step, actor, change)
    if change.action in RESENDING_ACTIONS:
        await cancel_timers(work.session, step)
        await make_ready(work, locked, step)
    failed = step if new_state == StepState.FAILED else None
    await advance(work, locked, actor.user_id, failed=failed)
    tell_card(work, run)
    to = f" to <@{change.new_assignee}>" if change.new_assignee else ""
    return Changed(
        run.key,
        step.step_key,
        step.title,
        step.state,
        f"{PAST_TENSE[change.action]}: `{step.step_key}` ({step.title}) in `{run.key}`{to}.",
    )


def _revives(run: Run, step: StepRun, action: StepAction) -> bool:
    """Whether the action may bring the step's failed run back (a retry or skip, which are
    what a failed step allows); a run that ended otherwise refuses every change."""
    if run.state == RunState.ACTIVE:
        return False
    if run.state == RunState.FAILED and action in allowed_actions(step.kind, StepState.FAILED):
        return True
    raise Conflict(f"`{run.key}` {RUN_ENDED[run.state]}; its steps can't change any more.")


def _next_state(step: StepRun, action: StepAction) -> StepState:
    """The state machine's answer, or the refusal a person reads (naming who got there first)."""
    try:
        new_state = next_state(step.kind, step.state, action)
    except TransitionRefused as exc:
        raise _refusal(step, _already(step, exc)) from None
    if action == StepAction.CLAIM and step.assignee_kind != AssigneeKind.GROUP:
        raise _refusal(step, "Only a step for a group can be claimed; this one is for one person")
    if action == StepAction.CLAIM and step.claimed_by:
        raise _refusal(step, f"<@{step.claimed_by}> already claimed it")
    return new_state


# What an action writes on the step besides its state (and the outcome of one that ends it).
StepEffect = Callable[[StepRun, StepChange, datetime], None]


def _no_effect(step: StepRun, change: StepChange, now: datetime) -> None:
    pass


def _started(step: StepRun, change: StepChange, now: datetime) -> None:
    step.started_at = now


def _blocked(step: StepRun, change: StepChange, now: datetime) -> None:
    step.blocked_reason = change.reason


def _unblocked(step: StepRun, change: StepChange, now: datetime) -> None:
    step.blocked_reason = None


def _reassigned(step: StepRun, change: StepChange, now: datetime) -> None:
    assert change.new_assignee
    step.assignee_kind, step.assignee_id = AssigneeKind.USER, change.new_assignee
    step.claimed_by = None
    step.delegated_from = None


_EFFECTS: Mapping[StepAction, StepEffect] = {
    StepAction.START: _started,
    StepAction.BLOCK: _blocked,
    StepAction.UNBLOCK: _unblocked,
    StepAction.REASSIGN: _reassigned,
}


async def _record_outcome(
    session: AsyncSession, step: StepRun, actor: Actor, change: StepChange, now: datetime
) -> None:
    step.finished_at = now
    step.outcome_by = actor.user_id
    step.outcome_note = change.reason or None
    if change.output is not None:
        step.output = dict(change.output)
    await cancel_timers(session, step)


def _tell_changed(work: Work, run: Run, step: StepRun, actor: Actor, change: StepChange) -> None:
    """The audit record, the line in the run's thread, the step's messages redrawn, and the
    run's owner told when someone else blocks a step."""
    action = change.action
    work.audit(
        team_id=run.team_id,
        run_id=run.id,
        step_key=step.step_key,
        actor_id=actor.user_id,
        action=f"step.{action.value}",
        reason=change.reason or None,
        assignee=change.new_assignee,
    )
    why = f": {escape(change.reason)}" if change.reason else ""
    to = f" to <@{change.new_assignee}>" if change.new_assignee else ""
    line = f"{PAST_TENSE[action]} `{step.step_key}`{to} by {actor_name(actor)}{why}"
    tell_thread(work, run, line)
    tell_step(work, step, StepRefresh)
    if action == StepAction.BLOCK and run.owner_id != actor.user_id:
        tell_person(
            work,
            team_id=run.team_id,
            user_id=run.owner_id,
            text=f"`{step.step_key}` in `{run.key}` is blocked by {actor_name(actor)}{why}",
        )
