"""A step's DM to each person it is for, and its redraw when the step changes."""

from __future__ import annotations

from sqlalchemy import bindparam, delete, insert
from sqlmodel import col, select

from bot.delivery.attempt import PermanentFailure
from bot.delivery.handler import Delivery
from bot.render.runs import moved_on_message, step_message
from bot.runtime import Runtime
from storage.db import unit_of_work
from storage.models import Run, StepMessage, StepRun

# Stored with the record of the DM's post (see Delivery.commit_with).
_ADD_STEP_MESSAGE = insert(StepMessage)
_DROP_STEP_MESSAGE = (
    delete(StepMessage)
    .where(col(StepMessage.id) == bindparam("b_id"))
    .execution_options(dml_strategy="core_only")
)


async def _step_recipients(runtime: Runtime, step: StepRun) -> list[str]:
    if step.assignee_kind == "group" and step.assignee_id and not step.claimed_by:
        members = await runtime.directory.group_members(step.team_id, step.assignee_id)
        return sorted(members)
    who = step.claimed_by or step.assignee_id
    return [who] if who else []


async def _load(runtime: Runtime, step_run_id: int) -> tuple[StepRun, Run, list[StepMessage]]:
    async with unit_of_work(runtime.sessions) as session:
        step = await session.get(StepRun, step_run_id)
        if step is None:
            raise PermanentFailure("step is gone")
        run = await session.get(Run, step.run_id)
        assert run is not None
        messages = (
            await session.exec(select(StepMessage).where(StepMessage.step_run_id == step_run_id))
        ).all()
    return step, run, list(messages)


async def step_ready_note(delivery: Delivery) -> None:
    runtime = delivery.runtime
    step_run_id = int(delivery.row.payload["step_run_id"])
    step, run, earlier = await _load(runtime, step_run_id)
    already = {message.user_id for message in earlier}
    # A retried delivery skips the people who already have their message.
    for user_id in await _step_recipients(runtime, step):
        if user_id in already and step.assignee_id != user_id:
            continue
        text, blocks = step_message(runtime.templates, run, step, user_id)
        data = await delivery.post(user_id, text=text, blocks=blocks)
        # The step came back to them (a retry, a reassign back): their older message
        # loses its buttons, so one live message acts on the step.
        for old in (message for message in earlier if message.user_id == user_id):
            text, blocks = moved_on_message(runtime.templates, run, step)
            await delivery.client.chat_update(
                channel=old.channel_id, ts=old.ts, text=text, blocks=blocks
            )
            delivery.commit_with(_DROP_STEP_MESSAGE, b_id=old.id)
        # Stored with the record of the post (its outcome, or before the next DM).
        delivery.commit_with(
            _ADD_STEP_MESSAGE,
            team_id=step.team_id,
            step_run_id=step_run_id,
            user_id=user_id,
            channel_id=str(data["channel"]),
            ts=str(data["ts"]),
        )


async def step_refresh_note(delivery: Delivery) -> None:
    runtime = delivery.runtime
    step, run, messages = await _load(runtime, int(delivery.row.payload["step_run_id"]))
    for message in messages:
        text, blocks = step_message(runtime.templates, run, step, message.user_id)
        await delivery.client.chat_update(
            channel=message.channel_id, ts=message.ts, text=text, blocks=blocks
        )
