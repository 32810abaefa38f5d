"""A step's DM to each person it is for, and its redraw when the step changes. Several steps of
one run ready for one person at once share one message (a grouped note, `step_run_ids`): each
step keeps its own StepMessage row, all naming that message, and any step's change redraws it
whole."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import bindparam, delete, func, insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.holders import holders
from bot.notify.attempt import PermanentFailure
from bot.notify.handler import Delivery
from bot.notify.payloads import StepRefresh, StepsReady, decode_ready
from bot.render.blocks import Block
from bot.render.runs import GROUP_STEPS, moved_on_message, step_group_message, step_message
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

# The steps one message shows, each with its row naming that message, in the message's order.
Placed = list[tuple[StepMessage, StepRun]]


async def _step_recipients(runtime: Runtime, step: StepRun) -> list[str]:
    held = holders(step)
    if held.group:
        return sorted(await runtime.directory.group_members(step.team_id, held.group))
    return [held.user] if held.user else []


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


async def _placed(session: AsyncSession, run_id: int, message: StepMessage) -> Placed:
    """Every step shown by `message` (found through its run's steps, whose rows are indexed):
    one for a single step's DM, several for a grouped one."""
    rows = await session.exec(
        select(StepMessage, StepRun)
        .join(StepRun, col(StepRun.id) == col(StepMessage.step_run_id))
        .where(
            col(StepRun.run_id) == run_id,
            col(StepMessage.user_id) == message.user_id,
            col(StepMessage.channel_id) == message.channel_id,
            col(StepMessage.ts) == message.ts,
        )
        .order_by(col(StepMessage.id))
    )
    return list(rows.all())


async def _moved_on(session: AsyncSession, placed: Placed) -> set[int]:
    """The steps of a grouped message that were sent again since (a retry, a reassign back):
    their newer message has their buttons. A grouped message keeps their rows, so that it
    still shows them."""
    viewer = placed[0][0].user_id
    newest: dict[int, int | None] = dict(
        (
            await session.exec(
                select(StepMessage.step_run_id, func.max(StepMessage.id))
                .where(
                    col(StepMessage.step_run_id).in_([step.id for _, step in placed]),
                    col(StepMessage.user_id) == viewer,
                )
                .group_by(col(StepMessage.step_run_id))
            )
        ).all()
    )
    return {
        step.id
        for row, step in placed
        if step.id is not None and (newest.get(step.id) or 0) > (row.id or 0)
    }


async def _redraw(
    delivery: Delivery, run: Run, message: StepMessage, moved_on: Collection[int] = ()
) -> bool:
    """Redraw `message` if it is a grouped one (every step it shows, as they are now); False
    for a single step's message, which its caller draws."""
    runtime = delivery.runtime
    async with unit_of_work(runtime.sessions) as session:
        assert run.id is not None
        placed = await _placed(session, run.id, message)
        if len(placed) < 2:
            return False
        moved = await _moved_on(session, placed) | set(moved_on)
    steps = [step for _, step in placed]
    text, blocks = step_group_message(runtime.templates, run, steps, message.user_id, moved)
    await delivery.client.chat_update(
        channel=message.channel_id, ts=message.ts, text=text, blocks=blocks
    )
    return True


async def step_ready_note(delivery: Delivery) -> None:
    note = decode_ready(delivery.row.payload)
    if isinstance(note, StepsReady):
        await _group_ready(delivery, note.step_run_ids, note.user_id)
        return
    runtime = delivery.runtime
    step_run_id = note.step_run_id
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
            # A grouped message keeps the step's row and shows it moved on; the other steps
            # in it keep their buttons.
            if await _redraw(delivery, run, old, moved_on={step_run_id}):
                continue
            text, blocks = moved_on_message(runtime.templates, run, step)
            await delivery.client.chat_update(
                channel=old.channel_id, ts=old.ts, text=text, blocks=blocks
            )
            delivery.commit_with(_DROP_STEP_MESSAGE, b_id=old.id)
        # Stored with the record of the post (its outcome, or before the next DM).
        _store(delivery, step, user_id, data)


def _store(delivery: Delivery, step: StepRun, user_id: str, data: dict[str, str]) -> None:
    delivery.commit_with(
        _ADD_STEP_MESSAGE,
        team_id=step.team_id,
        step_run_id=step.id,
        user_id=user_id,
        channel_id=str(data["channel"]),
        ts=str(data["ts"]),
    )


async def _group_ready(delivery: Delivery, ids: Sequence[int], user_id: str) -> None:
    """One message for up to GROUP_STEPS of the steps, in the note's order (the same chunks
    on every attempt, so each post is the same part of the note however often it is tried)."""
    runtime = delivery.runtime
    async with unit_of_work(runtime.sessions) as session:
        found = (await session.exec(select(StepRun).where(col(StepRun.id).in_(ids)))).all()
        by_id = {step.id: step for step in found}
        steps = [by_id[step_run_id] for step_run_id in ids if step_run_id in by_id]
        if not steps:
            raise PermanentFailure("steps are gone")
        run = await session.get(Run, steps[0].run_id)
        assert run is not None
        earlier = (
            await session.exec(
                select(StepMessage).where(
                    col(StepMessage.step_run_id).in_(ids), col(StepMessage.user_id) == user_id
                )
            )
        ).all()
    for start in range(0, len(steps), GROUP_STEPS):
        chunk = steps[start : start + GROUP_STEPS]
        text, blocks = _ready_message(runtime, run, chunk, user_id)
        data = await delivery.post(user_id, text=text, blocks=blocks)
        # An earlier attempt may have stored this message's rows already (with its post).
        stored = {
            message.step_run_id
            for message in earlier
            if (message.channel_id, message.ts) == (data["channel"], data["ts"])
        }
        for step in chunk:
            if step.id not in stored:
                _store(delivery, step, user_id, data)


def _ready_message(
    runtime: Runtime, run: Run, steps: Sequence[StepRun], user_id: str
) -> tuple[str, list[Block]]:
    if len(steps) == 1:  # the last of many alone: the message a single step gets
        return step_message(runtime.templates, run, steps[0], user_id)
    return step_group_message(runtime.templates, run, steps, user_id)


async def step_refresh_note(delivery: Delivery) -> None:
    runtime = delivery.runtime
    note = StepRefresh.decode(delivery.row.payload)
    step, run, messages = await _load(runtime, note.step_run_id)
    for message in messages:
        if await _redraw(delivery, run, message):
            continue
        text, blocks = step_message(runtime.templates, run, step, message.user_id)
        await delivery.client.chat_update(
            channel=message.channel_id, ts=message.ts, text=text, blocks=blocks
        )
