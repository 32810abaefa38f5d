"""The outbox deliverer: renders each semantic notification from the database as it is now
and sends it to Slack, in order per conversation, paced, retried, never dropped or doubled.

How it holds with several replicas and crashes:
- Claims. A replica claims the head of each conversation with a conditional update (FOR UPDATE
  SKIP LOCKED on PostgreSQL) that gives it a lease (`claimed_until`), renewed while it works and
  checked before every message it posts. A replica that dies stops renewing; once the lease
  runs out another one takes the notification over.
- Posts. Each chat.postMessage carries message metadata naming the notification and the part
  of it, and is recorded in the row (`posted`) once Slack answers: with the notification's
  outcome, or before its next post, whichever comes first, so a later attempt never posts a
  recorded part again. `started_at` marks an attempt whose outcome is unknown (it was in
  flight when its replica died, or the connection broke, or Slack answered 5xx): the next
  attempt first looks for that part in the channel's history and takes it when found.
- Reading where the bot is no member. Baton posts into public channels it never joined
  (chat:write.public), where Slack answers not_in_channel to a history read: the lookup then
  joins the channel (channels:join) and reads it. Under Slack's 2025 limits for apps outside
  the Marketplace (one history call a minute) a 429 keeps the post in doubt until Retry-After.
- What remains at-least-once: when the history still cannot be read (a missing history or
  join scope, a private channel the bot left, an archived one) or the post is older than the
  pages read, an unknown outcome is posted again rather than lost.
  Lease and client timeout leave a dead replica's request 10 s to land before a takeover.
  chat.update and views.publish redraw from the database, so repeating them is harmless.
- Pacing. chat.postMessage goes about once a second per Slack channel, whichever conversation
  key or replica sends it: each post reserves its slot in `channel_pace` (rows locked in key
  order on PostgreSQL, under the write lock on SQLite). A 429 pushes that channel's next slot
  past its Retry-After for every replica; other methods keep to their tier per process
  (bot/slack_limits.py).

Batches. A claimed batch is worked at once, and its bookkeeping is shared rather than repeated
per message: the claim's transaction also reads the runs the batch's run cards and events
show and reserves the slots of the posts whose channel is known in advance; the posts go out
side by side; lease renewals and slot reservations asked for at the same moment share one
transaction, and so do outcomes (each row's sent state and posted parts, and the writes its
handler left with it, such as a card's ts), written only for the rows whose claim still holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from aiohttp import ClientError
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import (
    ColumnElement,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    inspect,
    literal,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased
from sqlalchemy.sql.dml import UpdateBase
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.errors import NotFound
from bot.logs import log_context
from bot.outbox import AT_ONCE, Note
from bot.render.runs import moved_on_message, run_card, step_message
from bot.runtime import Runtime
from bot.slack_limits import retry_after
from storage.db import is_postgres, unit_of_work
from storage.models import ChannelPace, Outbox, Run, StepMessage, StepRun
from storage.types import UTCDateTime
from storage.workspaces import installed

log = logging.getLogger("baton.delivery")

LEASE_SECONDS = 20.0
HEARTBEAT_SECONDS = LEASE_SECONDS / 4
BATCH = 100
# Batches delivered side by side by the background loop (each holds its claims).
MAX_BATCHES = 16
# What a person is waiting for is claimed first; redraws and thread lines after.
URGENT = (Note.STEP_READY, Note.DIRECT, Note.HOME, Note.REMINDER)
# A channel whose next free slot is further away than this gives the notification back until
# then, instead of holding its claim asleep.
MAX_PACE_WAIT = 5.0
PACE_MARGIN = 0.1
# A slot reserved with the claim is posted into once the whole batch is rendered, so it holds
# its channel this much longer than a slot reserved just before its post; a post later still
# reserves another slot.
CLAIM_WINDOW = 0.5
# An outcome waits at most this long for the rest of its batch, to be written with theirs.
OUTCOME_LINGER = 0.25
# Transient failures are retried with growing delays (capped at 5 minutes) for about a day.
MAX_ATTEMPTS = 300
MAX_BACKOFF = 300.0
BACKOFF = BackoffRetryIntervalCalculator(backoff_factor=1.0)
METADATA_TYPE = "baton_delivery"
LOOKBACK_MARGIN = timedelta(seconds=60)
HISTORY_PAGES = 5
# Slack answers these when it is having trouble, not when the message is wrong.
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
# The workspace's token no longer works: nobody there can be told.
AUTH_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "token_revoked", "account_inactive", "team_access_not_granted"}
)

Handler = Callable[[AsyncWebClient, Outbox], Awaitable[None]]
T = TypeVar("T")
R = TypeVar("R")


class PermanentFailure(Exception):
    """A notification that can never be delivered (its subject is gone)."""


class LeaseLost(Exception):
    """Another replica took the notification over; this one must not touch Slack for it."""


class Deferred(Exception):
    """The channel is paced (or paused by a 429) until `until`, epoch seconds."""

    def __init__(self, until: float) -> None:
        super().__init__(f"channel busy until {until:.3f}")
        self.until = until


@dataclass(frozen=True, slots=True)
class Write:
    """A write a handler leaves for the transaction that records its notification's posts.
    `statement` takes `params` as bind parameters; the writes of one statement (the same
    object) made by a batch's notifications run as one executemany."""

    statement: UpdateBase
    params: dict[str, Any]


@dataclass
class Batch:
    """What a claimed batch's handlers need, read in the claim's transaction."""

    runs: dict[int, Run] = field(default_factory=dict)
    steps: dict[int, list[StepRun]] = field(default_factory=dict)
    clients: dict[str, AsyncWebClient | NotFound] = field(default_factory=dict)


@dataclass
class Attempt:
    """One delivery of one notification by this replica."""

    deliverer: Deliverer
    row: Outbox
    # A previous attempt may have posted without recording it: look before posting.
    in_doubt: bool
    posted: dict[str, dict[str, str]]
    batch: Batch = field(default_factory=Batch)
    # Slots reserved with the claim, by channel: the slot's epoch seconds, or the Deferred
    # that the channel's pacing gave instead.
    reserved: dict[str, float | Deferred] = field(default_factory=dict)
    # A chat.postMessage whose outcome is unknown (sent, no answer, or a 5xx).
    post_in_flight: bool = False
    # Posts recorded in `posted` but not yet in the row, and writes left for the same
    # transaction: both go with the row's next conditional update.
    unsaved: bool = False
    writes: list[Write] = field(default_factory=list)
    # Not yet reported its outcome (outcomes of a batch wait for each other, briefly).
    working: bool = False
    _counts: Counter[str] = field(default_factory=Counter)

    def part(self, channel: str, thread_ts: str | None) -> str:
        """A stable name for this post within the notification (its nth into this place)."""
        place = f"{channel}/{thread_ts}" if thread_ts else channel
        self._counts[place] += 1
        return f"{place}#{self._counts[place]}"

    def record(self, part: str, message: dict[str, str]) -> None:
        self.posted[part] = message
        self.unsaved = True

    def saved(self) -> None:
        self.unsaved = False
        self.writes.clear()


class Coalescer(Generic[T, R]):
    """Group commit: requests made while a flush runs, or in the same turn of the event loop,
    go together into the next flush, so notifications delivered side by side share one
    transaction instead of taking one each. `flush` answers each request with a result or an
    exception (raised to that caller alone); `gather`, when given, may hold a flush back a
    little for more requests to join it."""

    def __init__(
        self,
        flush: Callable[[list[T]], Awaitable[Sequence[R | Exception]]],
        *,
        gather: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._flush = flush
        self._gather = gather
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._task: asyncio.Task[None] | None = None

    async def __call__(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._task is None:
            # Its own context: the flush is no single notification's (logging context).
            self._task = asyncio.create_task(self._drain(), context=contextvars.Context())
        return await future

    async def _drain(self) -> None:
        waiting: list[tuple[T, asyncio.Future[R]]] = []
        try:
            while self._queue:
                await asyncio.sleep(0)  # the rest of this turn's requests join in
                if self._gather is not None:
                    await self._gather()
                # A caller cancelled before its turn (a replica stopping) is not written.
                waiting = [(item, future) for item, future in self._queue if not future.done()]
                self._queue = []
                if not waiting:
                    continue
                results = await self._flush_each([item for item, _ in waiting])
                for (_, future), result in zip(waiting, results, strict=True):
                    if future.done():
                        continue
                    if isinstance(result, Exception):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
                waiting = []
        except BaseException:
            for _, future in [*waiting, *self._queue]:
                future.cancel()
            self._queue = []
            raise
        finally:
            self._task = None

    async def _flush_each(self, items: list[T]) -> Sequence[R | Exception]:
        """One flush for all; should it fail, one for each, so that a request the database
        refuses fails alone (each flush is one transaction: a failed one left nothing)."""
        try:
            return await self._flush(items)
        except Exception as exc:
            if len(items) == 1:
                return [exc]
        results: list[R | Exception] = []
        for item in items:
            try:
                results += await self._flush([item])
            except Exception as exc:
                results.append(exc)
        return results


_attempt: ContextVar[Attempt | None] = ContextVar("baton_delivery_attempt", default=None)


class Deliverer:
    def __init__(self, runtime: Runtime, *, channel_interval: float = 1.0) -> None:
        self.runtime = runtime
        self.channel_interval = channel_interval  # Slack: about one message a second a channel
        # Posts reserved a second apart may reach Slack a little closer together (network
        # jitter), so slots are a little wider; 0 (tests against the emulator) paces nothing.
        self._spacing = channel_interval + PACE_MARGIN if channel_interval > 0 else 0.0
        self._busy = 0
        self._held: set[int] = set()
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._last_post: dict[tuple[str, str], float] = {}
        self._stopping = asyncio.Event()
        # Attempts that have not reported their outcome yet, and whether none is left.
        self._working = 0
        self._all_reported = asyncio.Event()
        self._all_reported.set()
        self._slots: Coalescer[tuple[Attempt, str], float] = Coalescer(self._reserve_slots)
        self._pauses: Coalescer[tuple[str, str], float] = Coalescer(self._read_pauses)
        self._outcomes: Coalescer[tuple[Attempt, dict[str, Any]], bool] = Coalescer(
            self._write_outcomes, gather=self._await_batch
        )
        self._handlers: dict[str, Handler] = {
            Note.RUN_CARD: self._run_card,
            Note.RUN_EVENT: self._run_event,
            Note.STEP_READY: self._step_ready,
            Note.STEP_REFRESH: self._step_refresh,
            Note.DIRECT: self._direct,
            Note.REDRAW: self._redraw,
        }
        self._own = set(self._handlers)

    def handle(self, kind: Note, handler: Handler) -> None:
        """Other modules (home, reminders, digests) add the notifications they own."""
        self._handlers[kind.value] = handler
        self._own.discard(kind.value)

    # -- the loop ---------------------------------------------------------------------------

    async def run_forever(self) -> None:
        """Claim due work as it comes and deliver each batch in the background: a batch whose
        messages wait (a channel's pace, a method's tier, a slow answer) holds up no other."""
        signal = self.runtime.outbox_signal
        batches: set[asyncio.Task[None]] = set()

        def finished(task: asyncio.Task[None]) -> None:
            batches.discard(task)
            signal.set()  # the heads behind its notifications may be due now

        try:
            while not self._stopping.is_set():
                signal.clear()
                claimed: list[Attempt] = []
                if len(batches) < MAX_BATCHES:
                    try:
                        claimed = await self._claim()
                    except Exception:  # the database went away for a moment: try again shortly
                        log.exception("delivery pass failed")
                if claimed:
                    task = asyncio.create_task(self._deliver_batch(claimed))
                    batches.add(task)
                    task.add_done_callback(finished)
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(signal.wait(), timeout=0.5)
        finally:
            if batches:
                await asyncio.gather(*batches, return_exceptions=True)

    def stop(self) -> None:
        """Claim nothing more; deliveries in flight finish (run_forever returns after them)."""
        self._stopping.set()
        self.runtime.outbox_signal.set()

    @property
    def idle(self) -> bool:
        return self._busy == 0

    async def deliver_due(self) -> int:
        """Claim the head of every conversation that has due work and deliver them side by side."""
        if self._stopping.is_set():
            return 0
        claimed = await self._claim()
        if claimed:
            await self._deliver_batch(claimed)
        return len(claimed)

    async def _deliver_batch(self, claimed: list[Attempt]) -> None:
        self._busy += 1
        ids = {attempt.row.id for attempt in claimed if attempt.row.id is not None}
        self._held |= ids
        if self._heartbeat_task is None:
            self._heartbeat_task = asyncio.create_task(self._heartbeat())
        try:
            await self._clients(claimed[0].batch, {attempt.row.team_id for attempt in claimed})
            for attempt in claimed:
                attempt.working = True
            self._working += len(claimed)
            self._all_reported.clear()
            await asyncio.gather(*(self._deliver(attempt) for attempt in claimed))
        finally:
            self._held -= ids
            self._busy -= 1
            heartbeat = self._heartbeat_task
            if self._busy == 0 and heartbeat is not None:
                self._heartbeat_task = None
                heartbeat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await heartbeat

    async def pending(self) -> int:
        """Notifications still to deliver (those of uninstalled workspaces wait, uncounted)."""
        async with unit_of_work(self.runtime.sessions) as session:
            count = (
                await session.exec(
                    select(func.count())
                    .select_from(Outbox)
                    .where(Outbox.state == "pending", installed(col(Outbox.team_id)))
                )
            ).one()
        await observe_outbox(self.runtime)
        return int(count)

    # -- claims -----------------------------------------------------------------------------

    async def _clients(self, batch: Batch, teams: set[str]) -> None:
        """Each workspace's client, looked up once for the batch (a lookup that fails for
        another reason is left to each notification, to fail and be retried on its own)."""
        for team_id in sorted(teams):
            try:
                batch.clients[team_id] = await self.runtime.slack.for_team(team_id)
            except NotFound as exc:
                batch.clients[team_id] = exc
            except Exception:
                continue

    async def _claim(self) -> list[Attempt]:
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
                    self,
                    row,
                    in_doubt=row.started_at is not None and _aware(row.started_at) != now,
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
                if not attempt.in_doubt and (channel := self._first_post(attempt)) is not None
            ]
            places = [(attempt.row.team_id, channel) for attempt, channel in first_posts]
            slots = await self._reserve(session, places, window=CLAIM_WINDOW)
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
            if row.kind == Note.RUN_CARD and (run_id := _run_id(row)) is not None
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
            and row_id > heads.get((team_id, conversation, _payload_run_id(payload)), row_id)
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
        ids = {row.id: run_id for row in rows if (run_id := _run_id(row)) is not None}
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

    def _first_post(self, attempt: Attempt) -> str | None:
        """Where the notification's first chat.postMessage goes, when that is known before its
        handler runs (it may still not post, and then leaves its slot unused)."""
        row = attempt.row
        if row.kind not in self._own:
            return None  # another module's handler, whose posts are its own business
        if row.kind == Note.DIRECT:
            user_id = row.payload.get("user_id")
            return user_id if isinstance(user_id, str) else None
        run = attempt.batch.runs.get(_run_id(row) or 0)
        if row.kind == Note.RUN_CARD and run is not None and not run.card_ts:
            return run.channel_id
        if row.kind == Note.RUN_EVENT and run is not None:
            return run.channel_id
        return None

    async def _heartbeat(self) -> None:
        """Renew the leases of the notifications this replica is delivering."""
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
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
                        .values(claimed_until=self._lease_end())
                        .execution_options(synchronize_session=False)
                    )
            except Exception:  # the lease is checked again before every post
                log.exception("could not renew delivery leases")

    def _epoch(self) -> float:
        return self.runtime.wall.now().timestamp()

    def _lease_end(self) -> datetime:
        return self.runtime.wall.now() + timedelta(seconds=LEASE_SECONDS)

    # -- one notification -------------------------------------------------------------------

    async def _deliver(self, attempt: Attempt) -> None:
        row = attempt.row
        payload = row.payload
        token = _attempt.set(attempt)
        context = log_context(
            team=row.team_id,
            outbox=row.id,
            note=row.kind,
            run=payload.get("run_id"),
            step=payload.get("step_run_id"),
        )
        try:
            with context:
                await self._attempt(attempt)
        finally:
            _attempt.reset(token)
            self._report(attempt)
            # Its outcome is written: the heartbeat must not stretch a retry's claim.
            self._held.discard(row.id or 0)

    def _report(self, attempt: Attempt) -> None:
        """The attempt's outcome is known (or it has none): the batch need not wait for it."""
        if attempt.working:
            attempt.working = False
            self._working -= 1
            if self._working == 0:
                self._all_reported.set()

    async def _attempt(self, attempt: Attempt) -> None:
        row = attempt.row
        metrics = self.runtime.metrics
        if attempt.in_doubt:
            log.info("outbox %s: resuming an attempt whose outcome is unknown", row.id)
        try:
            handler = self._handlers.get(row.kind)
            if handler is None:
                raise PermanentFailure(f"no deliverer for {row.kind}")
            client = attempt.batch.clients.get(row.team_id)
            if client is None:
                try:
                    client = await self.runtime.slack.for_team(row.team_id)
                except NotFound as exc:
                    client = exc
            if isinstance(client, NotFound):
                raise PermanentFailure(str(client))
            await handler(client, row)
        except LeaseLost as exc:
            log.warning("%s; leaving it to its new holder", exc)
        except Deferred as exc:
            await self._retry(attempt, "channel paced", exc.until - self._epoch(), counts=False)
        except SlackApiError as exc:
            await self._failed(attempt, exc)
        except PermanentFailure as exc:
            await self._dead(attempt, str(exc))
        except (ClientError, OSError, TimeoutError) as exc:
            metrics.retries.labels("connection").inc()
            reason = f"connection: {type(exc).__name__}: {exc}"
            await self._retry(attempt, reason, self._backoff(row.attempts))
        except Exception as exc:  # a bug in a renderer must not stop the deliverer
            log.exception("outbox %s (%s) failed", row.id, row.kind)
            metrics.retries.labels("error").inc()
            await self._retry(attempt, f"{type(exc).__name__}: {exc}", self._backoff(row.attempts))
        else:
            await self._finish(attempt)

    async def _failed(self, attempt: Attempt, exc: SlackApiError) -> None:
        error = _error(exc)
        status = exc.response.status_code if exc.response is not None else 0
        seconds = retry_after(exc)
        metrics = self.runtime.metrics
        if seconds is not None:
            metrics.retries.labels("ratelimited").inc()
            await self._retry(attempt, "ratelimited", seconds, counts=False)
        elif _maybe_done(exc):
            metrics.retries.labels("server_error").inc()
            reason = f"{status} {error}".strip()
            await self._retry(attempt, reason, self._backoff(attempt.row.attempts))
        else:
            await self._dead(
                attempt, error or f"HTTP {status}", tell_owner=error not in AUTH_ERRORS
            )

    @staticmethod
    def _backoff(attempts: int) -> float:
        return min(BACKOFF.calculate_sleep_duration(attempts), MAX_BACKOFF)

    async def _retry(
        self, attempt: Attempt, reason: str, delay: float, *, counts: bool = True
    ) -> None:
        """Try again after `delay` seconds; 429s and pacing do not count as failed attempts."""
        row = attempt.row
        attempts = row.attempts + (1 if counts else 0)
        if attempts >= MAX_ATTEMPTS:
            await self._dead(attempt, f"gave up after {attempts} attempts: {reason}")
            return
        delay = max(delay, 0.0)
        until = self.runtime.wall.now() + timedelta(seconds=delay)
        values: dict[str, Any] = {
            "attempts": attempts,
            "last_error": reason[:500],
            "next_attempt_at": until,
        }
        uncertain = attempt.in_doubt or attempt.post_in_flight
        if uncertain or attempt.posted:
            # Part of it may be in Slack: the claim stays (so no reminder merges into the
            # row) until the next attempt, which looks for unrecorded parts before posting.
            values["claimed_until"] = until
        else:
            values.update(claimed_by=None, claimed_until=None)
        if not uncertain:
            values["started_at"] = None
        if not await self._release(attempt, values):
            return
        log.info("outbox %s retry in %.1fs: %s", row.id, delay, reason)
        asyncio.get_running_loop().call_later(delay, self.runtime.outbox_signal.set)

    async def _release(self, attempt: Attempt, values: dict[str, Any]) -> bool:
        """Write the attempt's outcome if this replica still holds the row (in one transaction
        with the outcomes of the rest of its batch)."""
        self._report(attempt)
        # The heartbeat must not stretch a retry's claim once its outcome is on its way.
        self._held.discard(attempt.row.id or 0)
        done = await self._outcomes((attempt, values))
        if not done:
            log.warning("outbox %s was taken over before its outcome was written", attempt.row.id)
        return done

    async def _await_batch(self) -> None:
        """An outcome waits (briefly) for the attempts still working, to be written with theirs."""
        if self._working:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(OUTCOME_LINGER):
                    await self._all_reported.wait()
            await asyncio.sleep(0)  # the last to report queues its outcome

    async def _write_outcomes(
        self, outcomes: list[tuple[Attempt, dict[str, Any]]]
    ) -> list[bool | Exception]:
        async with unit_of_work(self.runtime.sessions) as session:
            held = await self._save(session, outcomes)
        self._saved(outcomes, held)
        return [attempt.row.id in held for attempt, _ in outcomes]

    async def _save(
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
    def _saved(changes: Sequence[tuple[Attempt, dict[str, Any]]], held: set[int]) -> None:
        """After the commit: what was written for the held rows need not be written again."""
        for attempt, _ in changes:
            if attempt.row.id in held:
                attempt.saved()

    async def _finish(self, attempt: Attempt) -> None:
        done = await self._release(
            attempt,
            {
                "state": "sent",
                "sent_at": self.runtime.wall.now(),
                "last_error": None,
                "claimed_until": None,
                "started_at": None,
            },
        )
        if done:
            self.runtime.metrics.deliveries.labels("sent").inc()

    async def _dead(self, attempt: Attempt, reason: str, *, tell_owner: bool = True) -> None:
        row = attempt.row
        self._report(attempt)
        owner, channel = (None, None)
        if tell_owner and row.kind != Note.DIRECT:
            owner, channel = await self._owner_of(row)
        outcome = [(attempt, {"state": "dead", "last_error": reason[:500], "claimed_until": None})]
        async with unit_of_work(self.runtime.sessions) as session:
            marked = row.id in await self._save(session, outcome)
            payload: dict[str, Any] | None = None
            if marked and owner and channel and reason in CHANNEL_GONE:
                # A channel that stopped working fails every later post there too: its owner
                # hears of it once, not once a post.
                if not await _told_of_channel(session, row.team_id, owner, channel):
                    payload = {
                        "user_id": owner,
                        "channel_trouble": channel,
                        "text": f"Baton could not deliver a message ({row.kind}) to "
                        f"<#{channel}> and can no longer post there (Slack said `{reason}`), "
                        "so run cards and updates there are not delivered. "
                        "Type `/invite @Baton` there, or start runs in another channel with "
                        "`/baton run <name> #channel`.",
                    }
            elif marked and owner:
                payload = {
                    "user_id": owner,
                    "text": f"Baton could not deliver a message ({row.kind}) to "
                    f"{row.conversation}: Slack said `{reason}`.",
                }
            if payload is not None and owner:
                session.add(
                    Outbox(
                        team_id=row.team_id,
                        kind=Note.DIRECT.value,
                        conversation=owner,
                        payload=payload,
                        next_attempt_at=AT_ONCE,
                        created_at=self.runtime.clock.now(),
                    )
                )
        if not marked:
            return
        self._saved(outcome, {row.id or 0})
        log.warning("outbox %s (%s) is dead: %s", row.id, row.kind, reason)
        self.runtime.metrics.deliveries.labels("dead").inc()
        self.runtime.outbox_signal.set()

    async def _owner_of(self, row: Outbox) -> tuple[str | None, str | None]:
        """The owner of the run a notification is about, and the run's channel."""
        async with unit_of_work(self.runtime.sessions) as session:
            run = None
            if "run_id" in row.payload:
                run = await session.get(Run, int(row.payload["run_id"]))
            elif "step_run_id" in row.payload:
                step = await session.get(StepRun, int(row.payload["step_run_id"]))
                run = await session.get(Run, step.run_id) if step else None
        return (run.owner_id, run.channel_id) if run else (None, None)

    # -- posting: paced, recorded, never twice ------------------------------------------------

    async def post(self, client: AsyncWebClient, channel: str, **kwargs: Any) -> dict[str, Any]:
        """chat.postMessage for the notification being delivered: {"channel", "ts"} of the
        message, posted now or by an earlier attempt of the same notification."""
        attempt = _attempt.get()
        if attempt is None:
            raise RuntimeError("Deliverer.post is for notification handlers")
        # The deliverer running this attempt holds its lease, whichever one the handler knows.
        return await attempt.deliverer._post(attempt, client, channel, kwargs)

    def commit_with(self, statement: UpdateBase, **params: Any) -> None:
        """For the notification being delivered: run `statement` with `params` in the
        transaction that records its posts so far (its outcome, or its next post's lease
        renewal), and only if this replica's claim still holds then. What a handler stores
        about a message it posted (a card's ts) goes this way, with the record of the post."""
        attempt = _attempt.get()
        if attempt is None:
            raise RuntimeError("Deliverer.commit_with is for notification handlers")
        attempt.writes.append(Write(statement, params))

    async def _post(
        self, attempt: Attempt, client: AsyncWebClient, channel: str, kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        row = attempt.row
        part = attempt.part(channel, kwargs.get("thread_ts"))
        recorded = attempt.posted.get(part)
        if recorded is not None:
            return dict(recorded)
        if attempt.in_doubt:
            found = await self._find_posted(client, attempt, channel, part, kwargs.get("thread_ts"))
            if found is not None:
                log.info("outbox %s: %s was posted by an earlier attempt", row.id, part)
                self.runtime.metrics.deliveries.labels("recovered").inc()
                attempt.record(part, found)
                return dict(found)
        await self._pace(attempt, channel)
        await self._keep_gap(row.team_id, channel)
        kwargs.setdefault(
            "metadata",
            {"event_type": METADATA_TYPE, "event_payload": {"outbox_id": row.id, "part": part}},
        )
        attempt.post_in_flight = True
        try:
            response = await client.chat_postMessage(channel=channel, **kwargs)
        except SlackApiError as exc:
            seconds = retry_after(exc)
            if seconds is not None:
                attempt.post_in_flight = False  # refused: nothing was posted
                await self._pause_channel(row.team_id, channel, seconds)
            elif not _maybe_done(exc):
                attempt.post_in_flight = False
            raise
        attempt.post_in_flight = False
        message = {"channel": str(response["channel"]), "ts": str(response["ts"])}
        # Written with the outcome, or before the next post, whichever comes first.
        attempt.record(part, message)
        return dict(message)

    async def _find_posted(
        self,
        client: AsyncWebClient,
        attempt: Attempt,
        channel: str,
        part: str,
        thread_ts: str | None,
    ) -> dict[str, str] | None:
        """The message an earlier attempt posted for `part`, from the channel's history. A
        public channel Baton posts into without being a member (chat:write.public) cannot be
        read until it joins it (channels:join), so it joins first."""
        row = attempt.row
        since = _aware(row.started_at) if row.started_at else self.runtime.wall.now()
        oldest = f"{(since - LOOKBACK_MARGIN).timestamp():.6f}"
        try:
            conversation = channel
            if channel.startswith(("U", "W")):  # a DM is read by its channel id
                opened = await client.conversations_open(users=channel)
                conversation = str(opened["channel"]["id"])
            try:
                ts = await _search(client, conversation, thread_ts, oldest, row.id, part)
            except SlackApiError as exc:
                if _error(exc) != "not_in_channel":
                    raise
                await client.conversations_join(channel=conversation)
                log.info("outbox %s: joined %s to read its history", row.id, conversation)
                ts = await _search(client, conversation, thread_ts, oldest, row.id, part)
            return {"channel": conversation, "ts": ts} if ts is not None else None
        except SlackApiError as exc:
            if retry_after(exc) is not None or _maybe_done(exc):
                raise  # Slack is struggling: the attempt is retried later, still in doubt
            log.warning(
                "outbox %s: cannot read %s's history (%s); posting %s again",
                row.id,
                channel,
                _error(exc),
                part,
            )
        return None

    # -- pacing per Slack channel, shared by every replica ----------------------------------

    async def _pace(self, attempt: Attempt, channel: str) -> None:
        """Wait for this channel's next free slot, reserved for us (with the claim, or now with
        a renewal of the lease); Deferred if it is far off or Slack paused the channel (a 429)
        meanwhile."""
        slot = attempt.reserved.pop(channel, None)
        if isinstance(slot, Deferred):
            raise slot
        if slot is not None and self._spacing and self._epoch() - slot > CLAIM_WINDOW:
            slot = None  # reserved with the claim, too long ago for the post to keep to it
        if slot is None:
            slot = await self._slots((attempt, channel))
        wait = slot - self._epoch()
        if wait <= 0:
            return
        await asyncio.sleep(wait)
        # A post before ours may have met a 429 while we waited: its Retry-After holds.
        until = await self._pauses((attempt.row.team_id, channel))
        if until > self._epoch():
            raise Deferred(until)

    async def _reserve_slots(self, requests: list[tuple[Attempt, str]]) -> list[float | Exception]:
        """One transaction for the posts about to go out: renew their notifications' leases
        (writing the posts they recorded since), then reserve a slot for each of those held."""
        attempts = list({id(attempt): attempt for attempt, _ in requests}.values())
        renewals = [(attempt, {"claimed_until": self._lease_end()}) for attempt in attempts]
        async with unit_of_work(self.runtime.sessions) as session:
            held = await self._save(session, renewals)
            places = [(a.row.team_id, channel) for a, channel in requests if a.row.id in held]
            slots = iter(await self._reserve(session, places))
        self._saved(renewals, held)
        return [
            next(slots)
            if attempt.row.id in held
            else LeaseLost(f"outbox {attempt.row.id} was taken over")
            for attempt, _ in requests
        ]

    async def _reserve(
        self, session: AsyncSession, places: list[tuple[str, str]], *, window: float = 0.0
    ) -> list[float | Deferred]:
        """Reserve the next free slot of each (team, channel) in `places`, in order (a channel
        named twice gets two slots in a row), held `window` seconds longer than a slot's
        spacing: its epoch seconds, or Deferred when it is more than MAX_PACE_WAIT away or
        Slack paused the channel. Runs after its transaction's first write, so on SQLite the
        write lock is held; PostgreSQL locks the rows in key order."""
        if not places:
            return []
        now = self._epoch()
        keys = sorted(set(places))
        query = (
            select(
                ChannelPace.team_id,
                ChannelPace.channel,
                ChannelPace.next_post_at,
                ChannelPace.paused_until,
            )
            .where(_place().in_(keys))
            .order_by(col(ChannelPace.team_id), col(ChannelPace.channel))
        )
        if is_postgres(self.runtime.engine):
            query = query.with_for_update()
        found = {
            (team_id, channel): (float(pace), float(paused))
            for team_id, channel, pace, paused in (await session.exec(query)).all()
        }
        paces = dict(found)
        slots: list[float | Deferred] = []
        for place in places:
            pace, paused = paces.get(place, (0.0, 0.0))
            if paused > now or pace > now + MAX_PACE_WAIT:
                slots.append(Deferred(max(paused, pace - MAX_PACE_WAIT)))
                continue
            slot = max(pace, now)
            paces[place] = (slot + self._spacing + (window if self._spacing else 0.0), paused)
            slots.append(slot)
        moved = [
            {"b_team": team_id, "b_channel": channel, "b_next": paces[team_id, channel][0]}
            for team_id, channel in keys
            if (team_id, channel) in found and paces[team_id, channel] != found[team_id, channel]
        ]
        if moved:
            await session.exec(_MOVE_PACE, params=moved)
        new = [key for key in keys if key not in found and key in paces]
        if new:
            made = await session.exec(
                _NEW_PACE["postgresql" if is_postgres(self.runtime.engine) else "sqlite"],
                params=[
                    {
                        "team_id": team_id,
                        "channel": channel,
                        "next_post_at": paces[team_id, channel][0],
                        "paused_until": 0.0,
                    }
                    for team_id, channel in new
                ],
            )
            lost = set(new) - {(team_id, channel) for team_id, channel in made.all()}
            if lost:
                # Another replica made the row meanwhile, and may have taken its first slot.
                again = [i for i, place in enumerate(places) if place in lost]
                retried = await self._reserve(session, [places[i] for i in again], window=window)
                for i, result in zip(again, retried, strict=True):
                    slots[i] = result
        return slots

    async def _read_pauses(self, places: list[tuple[str, str]]) -> list[float | Exception]:
        """Until when Slack paused each (team, channel) (0: it did not)."""
        async with unit_of_work(self.runtime.sessions) as session:
            rows = await session.exec(
                select(ChannelPace.team_id, ChannelPace.channel, ChannelPace.paused_until).where(
                    _place().in_(sorted(set(places)))
                )
            )
            paused = {(team_id, channel): float(until) for team_id, channel, until in rows.all()}
        return [paused.get(place, 0.0) for place in places]

    async def _keep_gap(self, team_id: str, channel: str) -> None:
        """A reserved slot is kept even when the post before it went out late (a busy event
        loop wakes sleepers late): this process's posts into a channel stay a slot apart."""
        loop = asyncio.get_running_loop()
        key = (team_id, channel)
        last = self._last_post.get(key)
        if last is not None and (wait := last + self._spacing - loop.time()) > 0:
            await asyncio.sleep(wait)
        self._last_post[key] = loop.time()

    async def _pause_channel(self, team_id: str, channel: str, seconds: float) -> None:
        """Slack said 429: no replica posts into this channel before Retry-After."""
        until = self._epoch() + seconds
        pace = col(ChannelPace.next_post_at)
        paused = col(ChannelPace.paused_until)
        async with unit_of_work(self.runtime.sessions) as session:
            await session.exec(
                update(ChannelPace)
                .where(col(ChannelPace.team_id) == team_id, col(ChannelPace.channel) == channel)
                .values(
                    next_post_at=case((pace > until, pace), else_=until),
                    paused_until=case((paused > until, paused), else_=until),
                )
                .execution_options(synchronize_session=False)
            )

    # -- one handler per notification kind ---------------------------------------------------

    async def _load_run(self, row: Outbox, *, steps: bool) -> tuple[Run, list[StepRun]]:
        """The notification's run (and its steps), as read with the claim, or read now."""
        run_id = int(row.payload["run_id"])
        attempt = _attempt.get()
        batch = attempt.batch if attempt is not None else Batch()
        run = batch.runs.get(run_id)
        if run is not None and (not steps or run_id in batch.steps):
            return run, batch.steps.get(run_id, [])
        async with unit_of_work(self.runtime.sessions) as session:
            run = await session.get(Run, run_id)
            if run is None:
                raise PermanentFailure(f"run {run_id} is gone")
            if not steps:
                return run, []
            found = await session.exec(
                select(StepRun).where(StepRun.run_id == run_id).order_by(col(StepRun.position))
            )
            return run, list(found.all())

    async def _run_card(self, client: AsyncWebClient, row: Outbox) -> None:
        run, steps = await self._load_run(row, steps=True)
        text, blocks = run_card(self.runtime.templates, run, steps, self.runtime.clock.now())
        if run.card_ts:
            await client.chat_update(
                channel=run.channel_id, ts=run.card_ts, text=text, blocks=blocks
            )
            return
        data = await self.post(client, run.channel_id, text=text, blocks=blocks)
        # Stored with the record of the post (and the batch's outcomes), in one transaction.
        self.commit_with(
            _SET_CARD, b_run=run.id, b_ts=str(data["ts"]), b_channel=str(data["channel"])
        )

    async def _run_event(self, client: AsyncWebClient, row: Outbox) -> None:
        run, _ = await self._load_run(row, steps=False)
        text = str(row.payload["text"])
        await self.post(client, run.channel_id, text=text, thread_ts=run.card_ts)

    async def _step_recipients(self, step: StepRun) -> list[str]:
        if step.assignee_kind == "group" and step.assignee_id and not step.claimed_by:
            members = await self.runtime.directory.group_members(step.team_id, step.assignee_id)
            return sorted(members)
        who = step.claimed_by or step.assignee_id
        return [who] if who else []

    async def _step_ready(self, client: AsyncWebClient, row: Outbox) -> None:
        step_run_id = int(row.payload["step_run_id"])
        async with unit_of_work(self.runtime.sessions) as session:
            step = await session.get(StepRun, step_run_id)
            if step is None:
                raise PermanentFailure("step is gone")
            run = await session.get(Run, step.run_id)
            assert run is not None
            earlier = (
                await session.exec(
                    select(StepMessage).where(StepMessage.step_run_id == step_run_id)
                )
            ).all()
        already = {message.user_id for message in earlier}
        # A retried delivery skips the people who already have their message.
        for user_id in await self._step_recipients(step):
            if user_id in already and step.assignee_id != user_id:
                continue
            text, blocks = step_message(self.runtime.templates, run, step, user_id)
            data = await self.post(client, user_id, text=text, blocks=blocks)
            # The step came back to them (a retry, a reassign back): their older message
            # loses its buttons, so one live message acts on the step.
            for old in (message for message in earlier if message.user_id == user_id):
                text, blocks = moved_on_message(self.runtime.templates, run, step)
                await client.chat_update(
                    channel=old.channel_id, ts=old.ts, text=text, blocks=blocks
                )
                self.commit_with(_DROP_STEP_MESSAGE, b_id=old.id)
            # Stored with the record of the post (its outcome, or before the next DM).
            self.commit_with(
                _ADD_STEP_MESSAGE,
                team_id=step.team_id,
                step_run_id=step_run_id,
                user_id=user_id,
                channel_id=str(data["channel"]),
                ts=str(data["ts"]),
            )

    async def _step_refresh(self, client: AsyncWebClient, row: Outbox) -> None:
        step_run_id = int(row.payload["step_run_id"])
        async with unit_of_work(self.runtime.sessions) as session:
            step = await session.get(StepRun, step_run_id)
            if step is None:
                raise PermanentFailure("step is gone")
            run = await session.get(Run, step.run_id)
            assert run is not None
            messages = (
                await session.exec(
                    select(StepMessage).where(StepMessage.step_run_id == step_run_id)
                )
            ).all()
        for message in messages:
            text, blocks = step_message(self.runtime.templates, run, step, message.user_id)
            await client.chat_update(
                channel=message.channel_id, ts=message.ts, text=text, blocks=blocks
            )

    async def _direct(self, client: AsyncWebClient, row: Outbox) -> None:
        payload = row.payload
        kwargs: dict[str, Any] = {"text": str(payload["text"])}
        if payload.get("blocks"):
            kwargs["blocks"] = payload["blocks"]
        await self.post(client, str(payload["user_id"]), **kwargs)

    async def _redraw(self, client: AsyncWebClient, row: Outbox) -> None:
        payload = row.payload
        await client.chat_update(
            channel=str(payload["channel_id"]),
            ts=str(payload["ts"]),
            text=str(payload["text"]),
            blocks=payload["blocks"],
        )


async def observe_outbox(runtime: Runtime) -> None:
    """Set the outbox gauges: how many notifications wait, and for how long the oldest has."""
    async with unit_of_work(runtime.sessions) as session:
        depth, oldest = (
            await session.exec(
                select(func.count(), func.min(Outbox.created_at)).where(
                    col(Outbox.state) == "pending"
                )
            )
        ).one()
    runtime.metrics.outbox_depth.set(int(depth))
    age = 0.0
    if oldest is not None:
        age = max((runtime.clock.now() - _aware(oldest)).total_seconds(), 0.0)
    runtime.metrics.outbox_oldest_seconds.set(age)


# What handlers store about the messages they posted (see Deliverer.commit_with).
_SET_CARD = (
    update(Run)
    .where(col(Run.id) == bindparam("b_run"))
    .values(card_ts=bindparam("b_ts"), channel_id=bindparam("b_channel"))
    .execution_options(dml_strategy="core_only")
)
_ADD_STEP_MESSAGE = insert(StepMessage)
_DROP_STEP_MESSAGE = (
    delete(StepMessage)
    .where(col(StepMessage.id) == bindparam("b_id"))
    .execution_options(dml_strategy="core_only")
)
_NEW_PACE = {
    "postgresql": postgresql.insert(ChannelPace)
    .on_conflict_do_nothing()
    .returning(col(ChannelPace.team_id), col(ChannelPace.channel)),
    "sqlite": sqlite.insert(ChannelPace)
    .on_conflict_do_nothing()
    .returning(col(ChannelPace.team_id), col(ChannelPace.channel)),
}
_ABSENT = object()
_MOVE_PACE = (
    update(ChannelPace)
    .where(
        col(ChannelPace.team_id) == bindparam("b_team"),
        col(ChannelPace.channel) == bindparam("b_channel"),
    )
    .values(next_post_at=bindparam("b_next"))
    .execution_options(dml_strategy="core_only")
)


# Slack's answers when a channel cannot take posts at all (gone, archived, Baton removed).
CHANNEL_GONE = frozenset({"channel_not_found", "is_archived", "not_in_channel"})
TOLD_LOOKBACK = 200  # an owner's latest DMs searched for an earlier word about a channel


async def _told_of_channel(session: AsyncSession, team_id: str, owner: str, channel: str) -> bool:
    rows = (
        await session.exec(
            select(Outbox.payload)
            .where(
                Outbox.team_id == team_id,
                Outbox.kind == Note.DIRECT.value,
                Outbox.conversation == owner,
            )
            .order_by(col(Outbox.id).desc())
            .limit(TOLD_LOOKBACK)
        )
    ).all()
    return any(payload.get("channel_trouble") == channel for payload in rows)


def _run_id(row: Outbox) -> int | None:
    """The run a notification is about, if it names one (its handler judges a bad payload)."""
    return _payload_run_id(row.payload)


def _payload_run_id(payload: Any) -> int | None:
    try:
        return int(payload["run_id"])
    except (KeyError, TypeError, ValueError):
        return None


def _place() -> ColumnElement[Any]:
    """A channel_pace row's key, (team, channel), for `IN` a list of them."""
    return tuple_(col(ChannelPace.team_id), col(ChannelPace.channel))


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


async def _search(
    client: AsyncWebClient,
    conversation: str,
    thread_ts: str | None,
    oldest: str,
    outbox_id: int | None,
    part: str,
) -> str | None:
    """The ts of the message in `conversation` (or its thread) since `oldest` that names the
    notification's part in its metadata, reading at most HISTORY_PAGES pages."""
    cursor: str | None = None
    for _ in range(HISTORY_PAGES):
        options: dict[str, Any] = {
            "channel": conversation,
            "oldest": oldest,
            "include_all_metadata": True,
            "limit": 200,
            "cursor": cursor,
        }
        if thread_ts:
            page = await client.conversations_replies(ts=thread_ts, **options)
        else:
            page = await client.conversations_history(**options)
        for message in page.get("messages") or []:
            if _names(message, outbox_id, part):
                return str(message["ts"])
        cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
        if not cursor:
            return None
    return None


def _names(message: dict[str, Any], outbox_id: int | None, part: str) -> bool:
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload") or {}
    return (
        metadata.get("event_type") == METADATA_TYPE
        and str(payload.get("outbox_id")) == str(outbox_id)
        and payload.get("part") == part
    )


def _error(exc: SlackApiError) -> str:
    return str(exc.response.get("error", "")) if exc.response is not None else ""


def _maybe_done(exc: SlackApiError) -> bool:
    """Slack was struggling (5xx or a transient error): the call may or may not have happened,
    and a later attempt may succeed."""
    status = exc.response.status_code if exc.response is not None else 0
    return status >= 500 or _error(exc) in TRANSIENT_ERRORS


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
