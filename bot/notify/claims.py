"""Claiming notifications to deliver: the head of each conversation's queue, the urgent first.

A replica claims with a conditional update (FOR UPDATE SKIP LOCKED on PostgreSQL) that gives
it a lease (`claimed_until`) on each row; `bot.notify.queue` keeps renewing the leases while
the batch is delivered. A claimed run card absorbs the redraws of the same card queued behind
it, and the runs and steps the batch shows are read with the claim.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy import and_, case, exists, func, literal, tuple_, update
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.notify.attempt import Attempt, Batch, Deferred, aware
from bot.notify.payloads import run_id_of, subject
from bot.runtime import Runtime
from storage.db import is_postgres, unit_of_work
from storage.models import Outbox, Run, StepRun
from storage.types import UTCDateTime
from storage.vocabulary import Note, NoteState
from storage.workspaces import installed

LEASE_SECONDS = 20.0
BATCH = 100
# What a person is waiting for is claimed first; redraws and thread lines after.
URGENT = (Note.STEP_READY, Note.DIRECT, Note.HOME, Note.REMINDER)
# A slot reserved with the claim is posted into once the whole batch is rendered, so it holds
# its channel this much longer than a slot reserved just before its post; a post later still
# reserves another slot.
CLAIM_WINDOW = 0.5

# Where a notification's first chat.postMessage goes, when that is known before its handler
# runs (it may still not post, and then leaves its slot unused).
FirstPost = Callable[[Attempt], str | None]
# Reserves each (team, channel)'s next post slot in the claim's transaction (the pacing).
Reserve = Callable[..., Awaitable[list[float | Deferred]]]


async def claim_batch(runtime: Runtime, first_post: FirstPost, reserve: Reserve) -> list[Attempt]:
    """Claim up to BATCH notifications, each the head of its conversation, the urgent first:
    each row gets this replica's lease, the posts known in advance get their pacing slots."""
    now = runtime.wall.now()
    earlier = aliased(Outbox)
    head = ~exists().where(
        and_(
            col(earlier.team_id) == col(Outbox.team_id),
            col(earlier.conversation) == col(Outbox.conversation),
            col(earlier.state) == NoteState.PENDING,
            col(earlier.id) < col(Outbox.id),
        )
    )
    claimable = (col(Outbox.claimed_until).is_(None)) | (col(Outbox.claimed_until) < now)
    query = (
        select(Outbox.id)
        .where(
            col(Outbox.state) == NoteState.PENDING,
            col(Outbox.next_attempt_at) <= now,
            claimable,
            head,
            installed(col(Outbox.team_id)),
        )
        .order_by(case((col(Outbox.kind).in_(URGENT), 0), else_=1), col(Outbox.id))
        .limit(BATCH)
    )
    if is_postgres(runtime.engine):
        # Another replica's rows are skipped, not waited for: the replicas share the work.
        query = query.with_for_update(skip_locked=True)
    async with unit_of_work(runtime.sessions) as session:
        ids = list((await session.exec(query)).all())
        if not ids:
            return []
        # The row as it is once claimed (RETURNING): a reminder merged into it a moment
        # before is part of what gets delivered.
        result = await session.exec(
            update(Outbox)
            .where(col(Outbox.id).in_(ids), col(Outbox.state) == NoteState.PENDING, claimable)
            .values(
                claimed_by=runtime.worker_id,
                claimed_until=now + timedelta(seconds=LEASE_SECONDS),
                started_at=func.coalesce(col(Outbox.started_at), literal(now, UTCDateTime)),
            )
            .returning(Outbox)
            .execution_options(synchronize_session=False)
        )
        rows = sorted(result.scalars().all(), key=lambda row: row.id or 0)
        # Before the runs are read, so the state they show is the newest coalesced.
        await _coalesce(runtime, session, rows, now)
        batch = await _prefetch(session, rows)
        # A start time other than ours is an earlier attempt whose outcome nobody recorded.
        attempts = [
            Attempt(
                row,
                in_doubt=row.started_at is not None and aware(row.started_at) != now,
                posted=dict(row.posted or {}),
                batch=batch,
            )
            for row in rows
        ]
        # The claim has just renewed these leases: the slots of posts known in advance
        # are reserved with it.
        first_posts = [
            (attempt, channel)
            for attempt in attempts
            if not attempt.in_doubt and (channel := first_post(attempt)) is not None
        ]
        places = [(attempt.row.team_id, channel) for attempt, channel in first_posts]
        slots = await reserve(session, places, window=CLAIM_WINDOW)
    for (attempt, channel), slot in zip(first_posts, slots, strict=True):
        attempt.reserved[channel] = slot
    return attempts


async def _coalesce(
    runtime: Runtime, session: AsyncSession, rows: list[Outbox], now: datetime
) -> None:
    """A claimed run card draws its run as the database holds it now, so the redraws of
    the same card queued behind it have nothing left to show: they are marked sent, and
    the card gets one chat.update with the latest state."""
    heads: dict[tuple[str, str, int | None], int] = {
        (row.team_id, row.conversation, run_id): row.id or 0
        for row in rows
        if row.kind == Note.RUN_CARD and (run_id := run_id_of(row)) is not None
    }
    if not heads:
        return
    queued = await session.exec(
        select(Outbox.id, Outbox.team_id, Outbox.conversation, Outbox.payload).where(
            col(Outbox.state) == NoteState.PENDING,
            col(Outbox.kind) == Note.RUN_CARD,
            tuple_(col(Outbox.team_id), col(Outbox.conversation)).in_(
                sorted({(team, conversation) for team, conversation, _ in heads})
            ),
            col(Outbox.id) > min(heads.values()),
        )
    )
    later = [
        row_id
        for row_id, team_id, conversation, payload in queued.all()
        if row_id is not None
        and row_id > heads.get((team_id, conversation, subject(Note.RUN_CARD, payload)[0]), row_id)
    ]
    if not later:
        return
    await session.exec(
        update(Outbox)
        .where(col(Outbox.id).in_(later), col(Outbox.state) == NoteState.PENDING)
        .values(state=NoteState.SENT, sent_at=now, last_error="coalesced with an earlier redraw")
        .execution_options(synchronize_session=False)
    )
    runtime.metrics.deliveries.labels("coalesced").inc(len(later))


async def _prefetch(session: AsyncSession, rows: list[Outbox]) -> Batch:
    """The runs (and the steps of the cards) the batch's run notifications show."""
    batch = Batch()
    ids = {row.id: run_id for row in rows if (run_id := run_id_of(row)) is not None}
    cards = {ids[row.id] for row in rows if row.kind == Note.RUN_CARD and row.id in ids}
    events = {ids[row.id] for row in rows if row.kind == Note.RUN_EVENT and row.id in ids}
    if not cards | events:
        return batch
    runs = await session.exec(select(Run).where(col(Run.id).in_(sorted(cards | events))))
    batch.runs = {run.id: run for run in runs.all() if run.id is not None}
    if cards:
        steps = await session.exec(
            select(StepRun)
            .where(col(StepRun.run_id).in_(sorted(cards)))
            .order_by(col(StepRun.run_id), col(StepRun.position))
        )
        for step in steps.all():
            batch.steps.setdefault(step.run_id, []).append(step)
    return batch
