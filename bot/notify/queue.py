"""The leased queue: claiming the head of each conversation's notifications, keeping the
leases of those being delivered, and writing their outcomes while the claim still holds.

A replica claims with a conditional update (FOR UPDATE SKIP LOCKED on PostgreSQL) that gives
it a lease (`claimed_until`), renewed while it works and checked before every message it
posts. A replica that dies stops renewing; once the lease runs out another one takes the
notification over. Outcomes of a batch are written together: one conditional UPDATE of the
values the rows share (it answers which rows are still held), one executemany of each row's
own values, and one per statement its handlers left (see `Write`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from asyncio import FIRST_COMPLETED
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, case, exists, func, inspect, literal, tuple_, update
from sqlalchemy.orm import aliased
from sqlalchemy.sql.dml import UpdateBase
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.notify.attempt import Attempt, Batch, Deferred, aware, payload_run_id, run_id_of
from bot.notify.coalescer import Coalescer
from bot.notify.outbox import Note
from bot.runtime import Runtime
from bot.slack.timers import Timer
from storage.db import is_postgres, unit_of_work
from storage.models import Outbox, Run, StepRun
from storage.types import UTCDateTime
from storage.workspaces import installed

log = logging.getLogger("baton.delivery")

LEASE_SECONDS = 20.0
HEARTBEAT_SECONDS = LEASE_SECONDS / 4
BATCH = 100
# What a person is waiting for is claimed first; redraws and thread lines after.
URGENT = (Note.STEP_READY, Note.DIRECT, Note.HOME, Note.REMINDER)
# A slot reserved with the claim is posted into once the whole batch is rendered, so it holds
# its channel this much longer than a slot reserved just before its post; a post later still
# reserves another slot.
CLAIM_WINDOW = 0.5
# An outcome waits at most this long for the rest of its batch, to be written with theirs.
OUTCOME_LINGER = 0.25

# Where a notification's first chat.postMessage goes, when that is known before its handler
# runs (it may still not post, and then leaves its slot unused).
FirstPost = Callable[[Attempt], str | None]
# Reserves each (team, channel)'s next post slot in the claim's transaction (the pacing).
Reserve = Callable[..., Awaitable[list[float | Deferred]]]


class LeasedQueue:
    def __init__(self, runtime: Runtime, timer: Timer) -> None:
        """`timer` spaces the lease renewals and bounds how long an outcome lingers for the
        rest of its batch (a test's ManualTimer: only when the test moves it)."""
        self.runtime = runtime
        self._timer = timer
        self._held: set[int] = set()
        self._open_batches = 0
        self._no_batches = asyncio.Event()  # set while _open_batches is 0
        self._no_batches.set()
        self._heartbeat_task: asyncio.Task[None] | None = None
        # Attempts that have not reported their outcome yet, and whether none is left.
        self._working = 0
        self._all_reported = asyncio.Event()
        self._all_reported.set()
        self._outcomes: Coalescer[tuple[Attempt, dict[str, Any]], bool] = Coalescer(
            self._write_outcomes, gather=self._await_batch
        )

    @property
    def idle(self) -> bool:
        return self._open_batches == 0

    async def wait_idle(self) -> None:
        """Return once no batch is being delivered."""
        await self._no_batches.wait()

    def lease_end(self) -> datetime:
        return self.runtime.wall.now() + timedelta(seconds=LEASE_SECONDS)

    # -- claims -----------------------------------------------------------------------------

    async def claim(self, first_post: FirstPost, reserve: Reserve) -> list[Attempt]:
        now = self.runtime.wall.now()
        earlier = aliased(Outbox)
        head = ~exists().where(
            and_(
                col(earlier.team_id) == col(Outbox.team_id),
                col(earlier.conversation) == col(Outbox.conversation),
                col(earlier.state) == "pending",
                col(earlier.id) < col(Outbox.id),
            )
        )
        claimable = (col(Outbox.claimed_until).is_(None)) | (col(Outbox.claimed_until) < now)
        query = (
            select(Outbox.id)
            .where(
                col(Outbox.state) == "pending",
                col(Outbox.next_attempt_at) <= now,
                claimable,
                head,
                installed(col(Outbox.team_id)),
            )
            .order_by(
                case((col(Outbox.kind).in_([n.value for n in URGENT]), 0), else_=1), col(Outbox.id)
            )
            .limit(BATCH)
        )
        if is_postgres(self.runtime.engine):
            # Another replica's rows are skipped, not waited for: the replicas share the work.
            query = query.with_for_update(skip_locked=True)
        async with unit_of_work(self.runtime.sessions) as session:
            ids = list((await session.exec(query)).all())
            if not ids:
                return []
            # The row as it is once claimed (RETURNING): a reminder merged into it a moment
            # before is part of what gets delivered.
            result = await session.exec(
                update(Outbox)
                .where(col(Outbox.id).in_(ids), col(Outbox.state) == "pending", claimable)
                .values(
                    claimed_by=self.runtime.worker_id,
                    claimed_until=now + timedelta(seconds=LEASE_SECONDS),
                    started_at=func.coalesce(col(Outbox.started_at), literal(now, UTCDateTime)),
                )
                .returning(Outbox)
                .execution_options(synchronize_session=False)
            )
            rows = sorted(result.scalars().all(), key=lambda row: row.id or 0)
            # Before the runs are read, so the state they show is the newest coalesced.
            await self._coalesce(session, rows, now)
            batch = await self._prefetch(session, rows)
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

    async def _coalesce(self, session: AsyncSession, rows: list[Outbox], now: datetime) -> None:
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
                col(Outbox.state) == "pending",
                col(Outbox.kind) == Note.RUN_CARD.value,
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
            and row_id > heads.get((team_id, conversation, payload_run_id(payload)), row_id)
        ]
        if not later:
            return
        await session.exec(
            update(Outbox)
            .where(col(Outbox.id).in_(later), col(Outbox.state) == "pending")
            .values(state="sent", sent_at=now, last_error="coalesced with an earlier redraw")
            .execution_options(synchronize_session=False)
        )
        self.runtime.metrics.deliveries.labels("coalesced").inc(len(later))

    async def _prefetch(self, session: AsyncSession, rows: list[Outbox]) -> Batch:
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

    # -- leases -----------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def leases(self, attempts: list[Attempt]) -> AsyncIterator[None]:
        """Keep renewing the claims of a batch while it is delivered."""
        ids = {attempt.row.id for attempt in attempts if attempt.row.id is not None}
        self._open_batches += 1
        self._no_batches.clear()
        self._held |= ids
        if self._heartbeat_task is None:
            self._heartbeat_task = asyncio.create_task(self._heartbeat())
        try:
            yield
        finally:
            self._held -= ids
            self._open_batches -= 1
            if self._open_batches == 0:
                self._no_batches.set()
            heartbeat = self._heartbeat_task
            if self._open_batches == 0 and heartbeat is not None:
                self._heartbeat_task = None
                heartbeat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await heartbeat

    def working(self, attempts: list[Attempt]) -> None:
        """These attempts are under way: outcomes written meanwhile wait a little for theirs."""
        for attempt in attempts:
            attempt.working = True
        self._working += len(attempts)
        self._all_reported.clear()

    def report(self, attempt: Attempt) -> None:
        """The attempt's outcome is known (or it has none): the batch need not wait for it,
        and the heartbeat must not stretch a retry's claim."""
        self._held.discard(attempt.row.id or 0)
        if attempt.working:
            attempt.working = False
            self._working -= 1
            if self._working == 0:
                self._all_reported.set()

    async def _heartbeat(self) -> None:
        """Renew the leases of the notifications this replica is delivering."""
        while True:
            await self._timer.sleep(HEARTBEAT_SECONDS)
            held = list(self._held)
            if not held:
                continue
            try:
                async with unit_of_work(self.runtime.sessions) as session:
                    await session.exec(
                        update(Outbox)
                        .where(
                            col(Outbox.id).in_(held),
                            col(Outbox.claimed_by) == self.runtime.worker_id,
                            col(Outbox.state) == "pending",
                        )
                        .values(claimed_until=self.lease_end())
                        .execution_options(synchronize_session=False)
                    )
            except Exception:  # the lease is checked again before every post
                log.exception("could not renew delivery leases")

    # -- outcomes ---------------------------------------------------------------------------

    async def release(self, attempt: Attempt, values: dict[str, Any]) -> bool:
        """Write the attempt's outcome if this replica still holds the row (in one transaction
        with the outcomes of the rest of its batch)."""
        self.report(attempt)
        done = await self._outcomes((attempt, values))
        if not done:
            log.warning("outbox %s was taken over before its outcome was written", attempt.row.id)
        return done

    async def _await_batch(self) -> None:
        """An outcome waits (briefly) for the attempts still working, to be written with theirs."""
        if self._working:
            reported = asyncio.ensure_future(self._all_reported.wait())
            linger = asyncio.ensure_future(self._timer.sleep(OUTCOME_LINGER))
            _, waiting = await asyncio.wait({reported, linger}, return_when=FIRST_COMPLETED)
            for task in waiting:
                task.cancel()
            await asyncio.gather(*waiting, return_exceptions=True)
            await asyncio.sleep(0)  # the last to report queues its outcome

    async def _write_outcomes(
        self, outcomes: list[tuple[Attempt, dict[str, Any]]]
    ) -> list[bool | Exception]:
        async with unit_of_work(self.runtime.sessions) as session:
            held = await self.save(session, outcomes)
        self.saved(outcomes, held)
        return [attempt.row.id in held for attempt, _ in outcomes]

    async def save(
        self, session: AsyncSession, changes: Sequence[tuple[Attempt, dict[str, Any]]]
    ) -> set[int]:
        """Write each attempt's `values` to its row, with the posts it has recorded since and
        the writes its handler left, for the rows this replica's claim still holds: one
        conditional UPDATE of the values the rows share (it locks them, and answers which are
        held), one executemany of each held row's own values, and one per statement the
        handlers left. The ids of the rows held."""
        rows: dict[int, dict[str, Any]] = {}
        for attempt, values in changes:
            if attempt.row.id is None:
                continue
            row_values = dict(values)
            if attempt.unsaved:
                row_values.setdefault("posted", dict(attempt.posted))
            rows[attempt.row.id] = row_values
        if not rows:
            return set()
        shared, own = _shared(rows)
        result = await session.exec(
            update(Outbox)
            .where(
                col(Outbox.id).in_(sorted(rows)),
                col(Outbox.claimed_by) == self.runtime.worker_id,
                col(Outbox.state) == "pending",
            )
            .values(shared or {"claimed_by": col(Outbox.claimed_by)})
            .returning(col(Outbox.id))
            .execution_options(synchronize_session=False)
        )
        held = {int(row_id) for row_id in result.scalars().all()}
        by_keys: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for row_id in sorted(held & set(own)):
            values = own[row_id]
            row_params = {"b_id": row_id, **{f"b_{key}": value for key, value in values.items()}}
            by_keys.setdefault(tuple(sorted(values)), []).append(row_params)
        for keys, rows_params in by_keys.items():
            await session.exec(_set_own(keys), params=rows_params)
        groups: dict[int, tuple[UpdateBase, list[dict[str, Any]]]] = {}
        for attempt, _ in changes:
            if attempt.row.id in held:
                for write in attempt.writes:
                    groups.setdefault(id(write.statement), (write.statement, []))[1].append(
                        write.params
                    )
        for statement, params in groups.values():
            await session.exec(statement, params=params)
        return held

    @staticmethod
    def saved(changes: Sequence[tuple[Attempt, dict[str, Any]]], held: set[int]) -> None:
        """After the commit: what was written for the held rows need not be written again."""
        for attempt, _ in changes:
            if attempt.row.id in held:
                attempt.saved()


_ABSENT = object()


def _shared(
    rows: dict[int, dict[str, Any]],
) -> tuple[dict[str, Any], dict[int, dict[str, Any]]]:
    """Split the values to write to several outbox rows into those every row gets alike and
    each row's own."""
    shared: dict[str, Any] = {}
    for key in dict.fromkeys(key for values in rows.values() for key in values):
        given = [values.get(key, _ABSENT) for values in rows.values()]
        if given[0] is not _ABSENT and all(value == given[0] for value in given):
            shared[key] = given[0]
    own = {
        row_id: {key: value for key, value in values.items() if key not in shared}
        for row_id, values in rows.items()
    }
    return shared, {row_id: values for row_id, values in own.items() if values}


@functools.cache
def _set_own(keys: tuple[str, ...]) -> UpdateBase:
    """An UPDATE of one outbox row (`b_id`) setting `keys` (from `b_<key>`), for executemany."""
    columns = inspect(Outbox).columns
    return (
        update(Outbox)
        .where(col(Outbox.id) == bindparam("b_id"))
        .values({key: bindparam(f"b_{key}", type_=columns[key].type) for key in keys})
        .execution_options(dml_strategy="core_only")
    )
