"""The outbox deliverer: renders each semantic notification from the database as it is now
and sends it to Slack, in order per conversation, paced, retried, never dropped or doubled.

How it holds with several replicas and crashes:
- Claims. A replica claims the head of each conversation with a conditional update (FOR UPDATE
  SKIP LOCKED on PostgreSQL) that gives it a lease (`claimed_until`), renewed while it works and
  checked before every message it posts. A replica that dies stops renewing; once the lease
  runs out another one takes the notification over.
- Posts. Each chat.postMessage carries message metadata naming the notification and the part
  of it, and is recorded in the row (`posted`) as soon as Slack answers, so a later attempt
  never posts a recorded part again. `started_at` marks an attempt whose outcome is unknown (it
  was in flight when its replica died, or the connection broke, or Slack answered 5xx): the
  next attempt first looks for that part in the channel's history and takes it when found.
- What remains at-least-once: when the history cannot be read (a missing history scope, a
  public channel the bot never joined), an unknown outcome is posted again rather than lost.
  Lease and client timeout leave a dead replica's request 10 s to land before a takeover.
  chat.update and views.publish redraw from the database, so repeating them is harmless.
- Pacing. chat.postMessage goes about once a second per Slack channel, whichever conversation
  key or replica sends it: each post reserves its slot in `channel_pace` with one conditional
  update. A 429 pushes that channel's next slot past its Retry-After for every replica; other
  methods keep to their tier per process (bot/slack_limits.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import ClientError
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import and_, case, exists, func, literal, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.errors import NotFound
from bot.logs import log_context
from bot.outbox import AT_ONCE, Note
from bot.render.runs import run_card, step_message
from bot.runtime import Runtime
from bot.slack_limits import retry_after
from storage.db import is_postgres, unit_of_work
from storage.models import ChannelPace, Outbox, Run, StepMessage, StepRun
from storage.types import UTCDateTime
from storage.workspaces import installed

log = logging.getLogger("baton.delivery")

LEASE_SECONDS = 20.0
HEARTBEAT_SECONDS = LEASE_SECONDS / 4
BATCH = 50
# A channel whose next free slot is further away than this gives the notification back until
# then, instead of holding its claim asleep.
MAX_PACE_WAIT = 5.0
PACE_MARGIN = 0.1
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


class PermanentFailure(Exception):
    """A notification that can never be delivered (its subject is gone)."""


class LeaseLost(Exception):
    """Another replica took the notification over; this one must not touch Slack for it."""


class Deferred(Exception):
    """The channel is paced (or paused by a 429) until `until`, epoch seconds."""

    def __init__(self, until: float) -> None:
        super().__init__(f"channel busy until {until:.3f}")
        self.until = until


@dataclass
class Attempt:
    """One delivery of one notification by this replica."""

    deliverer: Deliverer
    row: Outbox
    # A previous attempt may have posted without recording it: look before posting.
    in_doubt: bool
    posted: dict[str, dict[str, str]]
    # A chat.postMessage whose outcome is unknown (sent, no answer, or a 5xx).
    post_in_flight: bool = False
    _counts: Counter[str] = field(default_factory=Counter)

    def part(self, channel: str, thread_ts: str | None) -> str:
        """A stable name for this post within the notification (its nth into this place)."""
        place = f"{channel}/{thread_ts}" if thread_ts else channel
        self._counts[place] += 1
        return f"{place}#{self._counts[place]}"


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
        self._last_post: dict[tuple[str, str], float] = {}
        self._stopping = asyncio.Event()
        self._handlers: dict[str, Handler] = {
            Note.RUN_CARD: self._run_card,
            Note.RUN_EVENT: self._run_event,
            Note.STEP_READY: self._step_ready,
            Note.STEP_REFRESH: self._step_refresh,
            Note.DIRECT: self._direct,
        }

    def handle(self, kind: Note, handler: Handler) -> None:
        """Other modules (home, reminders, digests) add the notifications they own."""
        self._handlers[kind.value] = handler

    # -- the loop ---------------------------------------------------------------------------

    async def run_forever(self) -> None:
        signal = self.runtime.outbox_signal
        while not self._stopping.is_set():
            signal.clear()
            try:
                delivered = await self.deliver_due()
            except Exception:  # the database went away for a moment: try again shortly
                log.exception("delivery pass failed")
                delivered = 0
            if delivered:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(signal.wait(), timeout=0.5)

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
        if not claimed:
            return 0
        self._busy += 1
        ids = {attempt.row.id for attempt in claimed if attempt.row.id is not None}
        self._held |= ids
        heartbeat = asyncio.create_task(self._heartbeat())
        try:
            await asyncio.gather(*(self._deliver(attempt) for attempt in claimed))
        finally:
            self._held -= ids
            self._busy -= 1
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
        return len(claimed)

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
            .order_by(col(Outbox.id))
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
            rows = list(result.scalars().all())
        # A start time other than ours is an earlier attempt whose outcome nobody recorded.
        attempts = [
            Attempt(
                self,
                row,
                in_doubt=row.started_at is not None and _aware(row.started_at) != now,
                posted=dict(row.posted or {}),
            )
            for row in rows
        ]
        return sorted(attempts, key=lambda attempt: attempt.row.id or 0)

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

    async def _renew(self, attempt: Attempt, **values: Any) -> None:
        """Extend the lease (and write `values`) while this replica still holds it."""
        if not await self._write_if_held(attempt, {**values, "claimed_until": self._lease_end()}):
            raise LeaseLost(f"outbox {attempt.row.id} was taken over")

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
            # Its outcome is written: the heartbeat must not stretch a retry's claim.
            self._held.discard(row.id or 0)

    async def _attempt(self, attempt: Attempt) -> None:
        row = attempt.row
        metrics = self.runtime.metrics
        if attempt.in_doubt:
            log.info("outbox %s: resuming an attempt whose outcome is unknown", row.id)
        try:
            handler = self._handlers.get(row.kind)
            if handler is None:
                raise PermanentFailure(f"no deliverer for {row.kind}")
            try:
                client = await self.runtime.slack.for_team(row.team_id)
            except NotFound as exc:
                raise PermanentFailure(str(exc)) from None
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
        """Write the attempt's outcome if this replica still holds the row."""
        done = await self._write_if_held(attempt, values)
        if not done:
            log.warning("outbox %s was taken over before its outcome was written", attempt.row.id)
        return done

    async def _write_if_held(self, attempt: Attempt, values: dict[str, Any]) -> bool:
        """Update the row only while this replica's claim on it stands."""
        async with unit_of_work(self.runtime.sessions) as session:
            held = (
                await session.exec(
                    update(Outbox)
                    .where(
                        col(Outbox.id) == attempt.row.id,
                        col(Outbox.claimed_by) == self.runtime.worker_id,
                        col(Outbox.state) == "pending",
                    )
                    .values(**values)
                    .returning(col(Outbox.id))
                    .execution_options(synchronize_session=False)
                )
            ).first()
        return held is not None

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
        owner = await self._owner_of(row) if tell_owner and row.kind != Note.DIRECT else None
        async with unit_of_work(self.runtime.sessions) as session:
            marked = (
                await session.exec(
                    update(Outbox)
                    .where(
                        col(Outbox.id) == row.id,
                        col(Outbox.claimed_by) == self.runtime.worker_id,
                        col(Outbox.state) == "pending",
                    )
                    .values(state="dead", last_error=reason[:500], claimed_until=None)
                    .returning(col(Outbox.id))
                    .execution_options(synchronize_session=False)
                )
            ).first()
            if marked is not None and owner:
                session.add(
                    Outbox(
                        team_id=row.team_id,
                        kind=Note.DIRECT.value,
                        conversation=owner,
                        payload={
                            "user_id": owner,
                            "text": f"Baton could not deliver a message ({row.kind}) to "
                            f"{row.conversation}: Slack said `{reason}`.",
                        },
                        next_attempt_at=AT_ONCE,
                        created_at=self.runtime.clock.now(),
                    )
                )
        if marked is None:
            return
        log.warning("outbox %s (%s) is dead: %s", row.id, row.kind, reason)
        self.runtime.metrics.deliveries.labels("dead").inc()
        self.runtime.outbox_signal.set()

    async def _owner_of(self, row: Outbox) -> str | None:
        async with unit_of_work(self.runtime.sessions) as session:
            if "run_id" in row.payload:
                run = await session.get(Run, int(row.payload["run_id"]))
                return run.owner_id if run else None
            if "step_run_id" in row.payload:
                step = await session.get(StepRun, int(row.payload["step_run_id"]))
                run = await session.get(Run, step.run_id) if step else None
                return run.owner_id if run else None
        return None

    # -- posting: paced, recorded, never twice ------------------------------------------------

    async def post(self, client: AsyncWebClient, channel: str, **kwargs: Any) -> dict[str, Any]:
        """chat.postMessage for the notification being delivered: {"channel", "ts"} of the
        message, posted now or by an earlier attempt of the same notification."""
        attempt = _attempt.get()
        if attempt is None:
            raise RuntimeError("Deliverer.post is for notification handlers")
        # The deliverer running this attempt holds its lease, whichever one the handler knows.
        return await attempt.deliverer._post(attempt, client, channel, kwargs)

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
                await self._record(attempt, part, found)
                return dict(found)
        await self._renew(attempt)
        await self._pace(row.team_id, channel)
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
        await self._record(attempt, part, message)
        return dict(message)

    async def _record(self, attempt: Attempt, part: str, message: dict[str, str]) -> None:
        attempt.posted[part] = message
        await self._renew(attempt, posted=dict(attempt.posted))

    async def _find_posted(
        self,
        client: AsyncWebClient,
        attempt: Attempt,
        channel: str,
        part: str,
        thread_ts: str | None,
    ) -> dict[str, str] | None:
        """The message an earlier attempt posted for `part`, from the channel's history."""
        row = attempt.row
        since = _aware(row.started_at) if row.started_at else self.runtime.wall.now()
        oldest = f"{(since - LOOKBACK_MARGIN).timestamp():.6f}"
        try:
            conversation = channel
            if channel.startswith(("U", "W")):  # a DM is read by its channel id
                opened = await client.conversations_open(users=channel)
                conversation = str(opened["channel"]["id"])
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
                    if _names(message, row.id, part):
                        return {"channel": conversation, "ts": str(message["ts"])}
                cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
                if not cursor:
                    return None
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

    async def _pace(self, team_id: str, channel: str) -> None:
        """Wait for this channel's next free slot, reserved for us; Deferred if it is far off
        or Slack paused the channel (a 429) meanwhile."""
        pace = col(ChannelPace.next_post_at)
        paused = col(ChannelPace.paused_until)
        where = (col(ChannelPace.team_id) == team_id, col(ChannelPace.channel) == channel)
        while True:
            now = self._epoch()
            async with unit_of_work(self.runtime.sessions) as session:
                reserved = (
                    await session.exec(
                        update(ChannelPace)
                        .where(*where, pace <= now + MAX_PACE_WAIT, paused <= now)
                        .values(next_post_at=case((pace > now, pace), else_=now) + self._spacing)
                        .returning(pace)
                        .execution_options(synchronize_session=False)
                    )
                ).scalar_one_or_none()
                if reserved is None:
                    current = await session.get(ChannelPace, (team_id, channel))
                    if current is not None:
                        until = max(current.paused_until, current.next_post_at - MAX_PACE_WAIT)
                        raise Deferred(until)
                    await session.exec(self._new_pace(team_id, channel))
                    continue
            wait = float(reserved) - self._spacing - now
            if wait <= 0:
                return
            await asyncio.sleep(wait)
            # A post before ours may have met a 429 while we waited: its Retry-After holds.
            async with unit_of_work(self.runtime.sessions) as session:
                until = (await session.exec(select(paused).where(*where))).one()
            if until > self._epoch():
                raise Deferred(until)
            return

    async def _keep_gap(self, team_id: str, channel: str) -> None:
        """A reserved slot is kept even when the post before it went out late (a busy event
        loop wakes sleepers late): this process's posts into a channel stay a slot apart."""
        loop = asyncio.get_running_loop()
        key = (team_id, channel)
        last = self._last_post.get(key)
        if last is not None and (wait := last + self._spacing - loop.time()) > 0:
            await asyncio.sleep(wait)
        self._last_post[key] = loop.time()

    def _new_pace(self, team_id: str, channel: str) -> Any:
        values = {"team_id": team_id, "channel": channel, "next_post_at": 0.0, "paused_until": 0.0}
        dialect = postgresql if is_postgres(self.runtime.engine) else sqlite
        return dialect.insert(ChannelPace).values(**values).on_conflict_do_nothing()

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

    async def _load_run(self, session: AsyncSession, run_id: int) -> tuple[Run, list[StepRun]]:
        run = await session.get(Run, run_id)
        if run is None:
            raise PermanentFailure(f"run {run_id} is gone")
        steps = (
            await session.exec(
                select(StepRun).where(StepRun.run_id == run_id).order_by(col(StepRun.position))
            )
        ).all()
        return run, list(steps)

    async def _run_card(self, client: AsyncWebClient, row: Outbox) -> None:
        async with unit_of_work(self.runtime.sessions) as session:
            run, steps = await self._load_run(session, int(row.payload["run_id"]))
        text, blocks = run_card(self.runtime.templates, run, steps, self.runtime.clock.now())
        if run.card_ts:
            await client.chat_update(
                channel=run.channel_id, ts=run.card_ts, text=text, blocks=blocks
            )
            return
        data = await self.post(client, run.channel_id, text=text, blocks=blocks)
        async with unit_of_work(self.runtime.sessions) as session:
            await session.exec(
                update(Run)
                .where(col(Run.id) == run.id)
                .values(card_ts=str(data["ts"]), channel_id=str(data["channel"]))
            )

    async def _run_event(self, client: AsyncWebClient, row: Outbox) -> None:
        async with unit_of_work(self.runtime.sessions) as session:
            run = await session.get(Run, int(row.payload["run_id"]))
        if run is None:
            raise PermanentFailure("run is gone")
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
            already = set(
                (
                    await session.exec(
                        select(StepMessage.user_id).where(StepMessage.step_run_id == step_run_id)
                    )
                ).all()
            )
        # A retried delivery skips the people who already have their message.
        for user_id in await self._step_recipients(step):
            if user_id in already and step.assignee_id != user_id:
                continue
            text, blocks = step_message(self.runtime.templates, run, step, user_id)
            data = await self.post(client, user_id, text=text, blocks=blocks)
            async with unit_of_work(self.runtime.sessions) as session:
                session.add(
                    StepMessage(
                        team_id=step.team_id,
                        step_run_id=step_run_id,
                        user_id=user_id,
                        channel_id=str(data["channel"]),
                        ts=str(data["ts"]),
                    )
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
