"""Recording what an integration decided about its step: done, or failed with the owner told.

Both go through `change_step` as Baton itself, so the state machine refuses a second outcome
for the same step (a racing replica, a double callback) and nothing is applied twice.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from bot.errors import Conflict, NotFound
from bot.ids import ActionId, StepRef
from bot.outbox import Note, enqueue
from bot.permissions import system_actor
from bot.render.blocks import Block, context, section, step_buttons
from bot.runtime import Runtime
from bot.slack_text import clip, escape
from bot.states import StepAction
from bot.steps import StepChange, change_step
from storage.db import unit_of_work
from storage.models import Run, StepRun


async def complete(
    runtime: Runtime, team_id: str, run_key: str, step_key: str, output: dict[str, Any]
) -> bool:
    """Mark the hook step done with its output; False if it had already finished."""
    try:
        await change_step(
            runtime,
            system_actor(team_id),
            run_key,
            step_key,
            StepChange(StepAction.COMPLETE, output=output),
        )
    except (Conflict, NotFound):
        return False
    return True


async def fail(runtime: Runtime, team_id: str, run_key: str, step_key: str, reason: str) -> bool:
    """Fail the hook step and DM the run's owner Retry and Skip buttons; False if it had
    already finished."""
    try:
        await change_step(
            runtime,
            system_actor(team_id),
            run_key,
            step_key,
            StepChange(StepAction.FAIL, reason=reason),
        )
    except (Conflict, NotFound):
        return False
    async with unit_of_work(runtime.sessions) as session:
        run = (
            await session.exec(select(Run).where(Run.team_id == team_id, Run.key == run_key))
        ).one()
        step = (
            await session.exec(
                select(StepRun).where(StepRun.run_id == run.id, StepRun.step_key == step_key)
            )
        ).one()
        if run.state == "failed":  # the run failed with it: the engine told the owner already
            return True
        text, blocks = failure_message(run, step, reason)
        enqueue(
            session,
            runtime.clock,
            team_id=team_id,
            kind=Note.DIRECT,
            conversation=run.owner_id,
            payload={"user_id": run.owner_id, "text": text, "blocks": blocks},
        )
    runtime.outbox_signal.set()
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
