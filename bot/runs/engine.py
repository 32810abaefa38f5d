"""Moving a locked run forward: steps becoming ready, the run finishing, and what each
change tells people (outbox) and records (audit). Called inside one unit of work."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.errors import NotFound
from bot.core.states import FINISHED_STATES, PEOPLE_KINDS, StepView, newly_ready, run_outcome
from bot.language import fill_title
from bot.notify.outbox import step_conversation, steps_conversation
from bot.notify.payloads import Direct, RunCard, RunEvent, StepReady, StepRefresh, StepsReady
from bot.render.blocks import FALLBACK_TEXT
from bot.render.failures import run_failed_message, step_failed_message
from bot.slack.text import clip, escape, format_span
from bot.work import Work
from storage.models import Person, Run, StepRun, Timer
from storage.vocabulary import AssigneeKind, RunState, StepKind, StepState, TimerKind, TimerState

DUE_SOON_FRACTION = 0.8


@dataclass
class LockedRun:
    """A run and all its step runs, read after taking the run's lock."""

    run: Run
    steps: list[StepRun]

    def step(self, key: str) -> StepRun:
        for step in self.steps:
            if step.step_key == key:
                return step
        keys = ", ".join(step.step_key for step in self.steps)
        raise NotFound(f"Run `{self.run.key}` has no step `{key}`. Its steps: {keys}.")


async def lock_run(session: AsyncSession, *, team_id: str, key: str) -> LockedRun:
    """Take the run's lock first, so concurrent changes to one run queue up instead of racing
    (two branches finishing at once must not both miss the join becoming ready)."""
    result = await session.exec(
        update(Run)
        .where(col(Run.team_id) == team_id, col(Run.key) == key)
        .values(revision=col(Run.revision) + 1)
        .returning(col(Run.id))
    )
    run_id = result.scalar_one_or_none()
    if run_id is None:
        raise NotFound(f"There is no run `{key}` in this workspace.")
    run = (await session.exec(select(Run).where(Run.id == run_id))).one()
    await session.refresh(run)
    steps = list(
        (
            await session.exec(
                select(StepRun).where(StepRun.run_id == run_id).order_by(col(StepRun.position))
            )
        ).all()
    )
    return LockedRun(run, steps)


def tell_card(work: Work, run: Run) -> None:
    assert run.id is not None
    work.tell(team_id=run.team_id, conversation=run.channel_id, note=RunCard(run_id=run.id))


def tell_thread(work: Work, run: Run, text: str) -> None:
    # A line may quote a reason someone typed; however long, the post must fit one message.
    assert run.id is not None
    work.tell(
        team_id=run.team_id,
        conversation=run.channel_id,
        note=RunEvent(run_id=run.id, text=clip(text, FALLBACK_TEXT)),
    )


def tell_step(work: Work, step: StepRun, note: type[StepReady | StepRefresh]) -> None:
    """DM the step's people (StepReady), or redraw its messages (StepRefresh)."""
    assert step.id is not None
    work.tell(
        team_id=step.team_id,
        conversation=step_conversation(step.id),
        note=note(step_run_id=step.id),
    )


def tell_person(
    work: Work,
    *,
    team_id: str,
    user_id: str,
    text: str,
    blocks: list[dict[str, Any]] | None = None,
) -> None:
    work.tell(
        team_id=team_id,
        conversation=user_id,
        note=Direct(user_id=user_id, text=text, blocks=blocks),
    )


async def away_redirect(
    session: AsyncSession, *, team_id: str, user_id: str, owner_id: str, now: datetime
) -> str | None:
    """Who takes a step for someone who is away: their delegate, or else the run owner."""
    person = (
        await session.exec(
            select(Person).where(Person.team_id == team_id, Person.user_id == user_id)
        )
    ).first()
    if person is None or person.away_until is None or person.away_until <= now:
        return None
    return person.delegate_id or (owner_id if owner_id != user_id else None)


def _add_timer(
    session: AsyncSession,
    step: StepRun,
    kind: TimerKind,
    due_at: datetime,
    now: datetime,
    recipient: str | None = None,
) -> None:
    session.add(
        Timer(
            team_id=step.team_id,
            kind=kind,
            run_id=step.run_id,
            step_run_id=step.id,
            recipient_id=recipient,
            due_at=due_at,
            created_at=now,
        )
    )


def _shown_output(value: Any) -> Any:
    """An output as a title shows it: text escaped like anything typed, other values as JSON."""
    if isinstance(value, Mapping):
        return {str(key): _shown_output(item) for key, item in value.items()}
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return escape(clip(text, 200))


def _title_with_outputs(step: StepRun, steps: list[StepRun]) -> str:
    """Fill `{steps.<id>.output.<key>}` from what earlier (hook) steps returned."""
    if "{steps." not in step.title:
        return step.title
    shown: dict[str, dict[str, Any]] = {
        s.step_key: _shown_output(s.output) for s in steps if s.output and s is not step
    }
    return fill_title(step.title, {}, shown) if shown else step.title


async def make_ready(work: Work, locked: LockedRun, step: StepRun, *, tell: bool = True) -> None:
    """The step becomes ready; its people hear of it unless `tell` is False (the caller tells
    them, with the other steps ready at the same moment: see `tell_ready`)."""
    now = work.now
    run = locked.run
    step.title = _title_with_outputs(step, locked.steps)
    step.state = StepState.READY
    step.ready_at = now
    step.started_at = None
    step.finished_at = None
    step.due_at = now + timedelta(seconds=step.due_seconds) if step.due_seconds else None
    if step.assignee_kind == AssigneeKind.USER and step.assignee_id:
        stand_in = await away_redirect(
            work.session,
            team_id=run.team_id,
            user_id=step.assignee_id,
            owner_id=run.owner_id,
            now=now,
        )
        if stand_in is not None:
            step.delegated_from = step.assignee_id
            step.assignee_id = stand_in
            tell_thread(
                work,
                run,
                f"<@{step.delegated_from}> is away, so `{step.step_key}` goes to <@{stand_in}>",
            )
    work.session.add(step)
    await work.session.flush()
    if step.kind == StepKind.HOOK:
        _add_timer(work.session, step, TimerKind.HOOK_CALL, now, now)
    elif step.kind == StepKind.WAIT:
        _add_timer(
            work.session, step, TimerKind.WAIT, now + timedelta(seconds=step.wait_seconds or 0), now
        )
    elif tell:
        tell_step(work, step, StepReady)
    if step.due_at is not None and step.kind in PEOPLE_KINDS:
        window = step.due_at - now
        _add_timer(work.session, step, TimerKind.DUE_SOON, now + window * DUE_SOON_FRACTION, now)
        _add_timer(work.session, step, TimerKind.OVERDUE, step.due_at, now)


def wants_dm(step: StepRun) -> bool:
    """A step someone acts on (hook and wait steps are done by Baton)."""
    return step.kind in PEOPLE_KINDS


def tell_ready(work: Work, run: Run, steps: list[StepRun]) -> None:
    """DM the people of steps that became ready together: a person's several steps come as
    one note (one message for up to 8 of them), so parallel steps are not a burst of DMs. Group
    steps go out on their own, to each member."""
    theirs: dict[str, list[StepRun]] = {}
    for step in steps:
        if step.assignee_kind == AssigneeKind.USER and step.assignee_id:
            theirs.setdefault(step.assignee_id, []).append(step)
        else:
            tell_step(work, step, StepReady)
    for user_id, mine in theirs.items():
        if len(mine) == 1:
            tell_step(work, mine[0], StepReady)
            continue
        assert run.id is not None
        work.tell(
            team_id=run.team_id,
            conversation=steps_conversation(run.id, user_id),
            note=StepsReady(
                run_id=run.id,
                user_id=user_id,
                step_run_ids=tuple(step.id for step in mine if step.id is not None),
            ),
        )


async def cancel_timers(session: AsyncSession, step: StepRun) -> None:
    await session.exec(
        update(Timer)
        .where(col(Timer.step_run_id) == step.id, col(Timer.state) == TimerState.PENDING)
        .values(state=TimerState.CANCELLED)
    )


async def advance(
    work: Work,
    locked: LockedRun,
    actor_id: str | None,
    *,
    failed: StepRun | None = None,
) -> None:
    """After a step changed: make newly satisfied steps ready, then settle the run's state.

    `failed` is the step that has just failed, if one did: its run's owner hears at once, with
    Retry and Skip, in one message: the run-failed one when the failure ends the run, else one
    of its own while other branches go on."""
    run = locked.run
    if run.state != RunState.ACTIVE:
        return
    views = [StepView(s.step_key, s.kind, s.state, tuple(s.after)) for s in locked.steps]
    ready = [locked.step(key) for key in newly_ready(views)]
    for step in ready:
        await make_ready(work, locked, step, tell=False)
    tell_ready(work, run, [step for step in ready if wants_dm(step)])
    outcome = run_outcome(s.state for s in locked.steps)
    if outcome is None:
        if failed is not None:
            _tell_step_failed(work, run, failed)
        return
    now = work.now
    run.state = outcome
    run.finished_at = now
    work.session.add(run)
    took = format_span(now - run.created_at)
    work.audit(
        team_id=run.team_id,
        run_id=run.id,
        actor_id=actor_id,
        action=f"run.{outcome.value}",
        took_seconds=int((now - run.created_at).total_seconds()),
    )
    if outcome == RunState.COMPLETED:
        tell_thread(work, run, f"Run completed in {took}")
    else:
        failed_steps = [s for s in locked.steps if s.state == StepState.FAILED]
        names = ", ".join(s.step_key for s in failed_steps)
        tell_thread(work, run, f"Run failed after {took}: {names} failed")
        text, blocks = run_failed_message(run, failed_steps)
        tell_person(work, team_id=run.team_id, user_id=run.owner_id, text=text, blocks=blocks)


def _tell_step_failed(work: Work, run: Run, step: StepRun) -> None:
    """A step failed while other branches are still open: the run fails once they finish
    unless its owner retries or skips the step, so the owner hears now."""
    text, blocks = step_failed_message(run, step)
    tell_person(work, team_id=run.team_id, user_id=run.owner_id, text=text, blocks=blocks)


async def finish_open_steps(work: Work, locked: LockedRun, state: StepState) -> None:
    now = work.now
    for step in locked.steps:
        if step.state not in FINISHED_STATES:
            was_open = step.state != StepState.WAITING
            step.state = state
            step.finished_at = now
            work.session.add(step)
            await cancel_timers(work.session, step)
            if was_open:
                tell_step(work, step, StepRefresh)
