"""A run's card in its channel (posted once, then redrawn) and the lines in its thread."""

from __future__ import annotations

from sqlalchemy import bindparam, update
from sqlmodel import col, select

from bot.notify.attempt import Attempt, PermanentFailure
from bot.notify.handler import Delivery
from bot.notify.payloads import RunCard, RunEvent, run_id_of
from bot.render.runs import run_card
from storage.db import unit_of_work
from storage.models import Run, StepRun

# Stored with the record of the card's post (see Delivery.commit_with).
_SET_CARD = (
    update(Run)
    .where(col(Run.id) == bindparam("b_run"))
    .values(card_ts=bindparam("b_ts"), channel_id=bindparam("b_channel"))
    .execution_options(dml_strategy="core_only")
)


async def load_run(delivery: Delivery, run_id: int, *, steps: bool) -> tuple[Run, list[StepRun]]:
    """The notification's run (and its steps), as read with the claim, or read now."""
    batch = delivery.batch
    run = batch.runs.get(run_id)
    if run is not None and (not steps or run_id in batch.steps):
        return run, batch.steps.get(run_id, [])
    async with unit_of_work(delivery.runtime.sessions) as session:
        run = await session.get(Run, run_id)
        if run is None:
            raise PermanentFailure(f"run {run_id} is gone")
        if not steps:
            return run, []
        found = await session.exec(
            select(StepRun).where(StepRun.run_id == run_id).order_by(col(StepRun.position))
        )
        return run, list(found.all())


async def run_card_note(delivery: Delivery) -> None:
    note = RunCard.decode(delivery.row.payload)
    run, steps = await load_run(delivery, note.run_id, steps=True)
    runtime = delivery.runtime
    text, blocks = run_card(runtime.templates, run, steps, runtime.clock.now())
    if run.card_ts:
        await delivery.client.chat_update(
            channel=run.channel_id, ts=run.card_ts, text=text, blocks=blocks
        )
        return
    data = await delivery.post(run.channel_id, text=text, blocks=blocks)
    # Stored with the record of the post (and the batch's outcomes), in one transaction.
    delivery.commit_with(
        _SET_CARD, b_run=run.id, b_ts=str(data["ts"]), b_channel=str(data["channel"])
    )


async def run_event_note(delivery: Delivery) -> None:
    note = RunEvent.decode(delivery.row.payload)
    run, _ = await load_run(delivery, note.run_id, steps=False)
    await delivery.post(run.channel_id, text=note.text, thread_ts=run.card_ts)


def card_first_post(attempt: Attempt) -> str | None:
    """A card not yet posted is posted into its run's channel (a posted one is redrawn)."""
    run = attempt.batch.runs.get(run_id_of(attempt.row) or 0)
    return run.channel_id if run is not None and not run.card_ts else None


def event_first_post(attempt: Attempt) -> str | None:
    run = attempt.batch.runs.get(run_id_of(attempt.row) or 0)
    return run.channel_id if run is not None else None
