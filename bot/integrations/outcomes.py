"""Recording what an integration decided about its step: done, or failed with the owner told.

Both go through `apply_change` as Baton itself, so the state machine refuses a second outcome
for the same step (a racing replica, a double callback) and nothing is applied twice. The
`apply_*` functions work inside the caller's transaction (the call's lease check, so the lease
and the outcome commit together); `complete` and `fail` take a transaction of their own.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.errors import Conflict, NotFound
from bot.ids import ActionId, StepRef
from bot.outbox import Note, enqueue
from bot.permissions import system_actor
from bot.render.blocks import Block, context, section, step_buttons
from bot.runtime import Runtime
from bot.slack_text import clip, escape
from bot.states import RunState, StepAction
from bot.steps import StepChange, apply_change
from storage.db import unit_of_work
from storage.models import Run, StepRun


async def complete(
    runtime: Runtime, team_id: str, run_key: str, step_key: str, output: dict[str, Any]
) -> bool:
    """`apply_complete` in a transaction of its own."""
    try:
        async with unit_of_work(runtime.sessions) as session:
            applied = await apply_complete(session, runtime, team_id, run_key, step_key, output)
    except StaleDataError:  # the step changed at the same moment: that change won
        return False
    runtime.outbox_signal.set()
    return applied


async def fail(runtime: Runtime, team_id: str, run_key: str, step_key: str, reason: str) -> bool:
    """`apply_fail` in a transaction of its own."""
    try:
        async with unit_of_work(runtime.sessions) as session:
            applied = await apply_fail(session, runtime, team_id, run_key, step_key, reason)
    except StaleDataError:
        return False
    runtime.outbox_signal.set()
    return applied


async def apply_complete(
    session: AsyncSession,
    runtime: Runtime,
    team_id: str,
    run_key: str,
    step_key: str,
    output: dict[str, Any],
) -> bool:
    """Mark the hook step done with its output; False (and nothing written) if it had already
    finished or its run ended."""
    change = StepChange(StepAction.COMPLETE, output=output)
    try:
        await apply_change(session, runtime, system_actor(team_id), run_key, step_key, change)
    except (Conflict, NotFound):
        return False
    return True


async def apply_fail(
    session: AsyncSession, runtime: Runtime, team_id: str, run_key: str, step_key: str, reason: str
) -> bool:
    """Fail the hook step and DM the run's owner Retry and Skip buttons; False (and nothing
    written) if it had already finished or its run ended."""
    change = StepChange(StepAction.FAIL, reason=reason)
    try:
        await apply_change(session, runtime, system_actor(team_id), run_key, step_key, change)
    except (Conflict, NotFound):
        return False
    run = (await session.exec(select(Run).where(Run.team_id == team_id, Run.key == run_key))).one()
    if run.state == RunState.FAILED:  # the run failed with it: the engine told the owner already
        return True
    step = (
        await session.exec(
            select(StepRun).where(StepRun.run_id == run.id, StepRun.step_key == step_key)
        )
    ).one()
    text, blocks = failure_message(run, step, reason)
    enqueue(
        session,
        runtime.clock,
        team_id=team_id,
        kind=Note.DIRECT,
        conversation=run.owner_id,
        payload={"user_id": run.owner_id, "text": text, "blocks": blocks},
    )
    return True


def failure_message(run: Run, step: StepRun, reason: str) -> tuple[str, list[Block]]:
    why = escape(clip(reason, 500))
    head = (
        f"❌ *A hook step failed:* `{step.step_key}` {step.title}\n"
        f"Run `{run.key}` · {run.title}\n"
        f"_{why}_"
    )
    blocks = [
        section(head),
        context("Retry calls the integration again; Skip moves the run on without this step."),
        step_buttons(
            StepRef(run=run.key, step=step.step_key),
            [("Retry", ActionId.RETRY, "primary"), ("Skip", ActionId.SKIP, None)],
        ),
    ]
    return f"Hook step `{step.step_key}` in `{run.key}` failed: {why}", blocks
