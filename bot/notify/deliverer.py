"""The outbox deliverer: renders each semantic notification from the database as it is now
and sends it to Slack, in order per conversation, paced, retried, never dropped or doubled.

Its parts: the claims (claims.py), the leased queue (leases, outcomes: queue.py), the pacing
per Slack channel (pacing.py), posting exactly once (posting.py), what becomes of an attempt
(outcomes.py) and the renderers of each kind of notification (notes/).

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
import logging

from aiohttp import ClientError
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import func
from sqlmodel import col, select

from bot.core.errors import NotFound
from bot.logs import log_context
from bot.notify.attempt import Attempt, Batch, Deferred, LeaseLost, PermanentFailure, aware
from bot.notify.claims import FirstPost, claim_batch
from bot.notify.handler import Delivery, Handler
from bot.notify.notes import OWN
from bot.notify.outcomes import Outcomes, backoff
from bot.notify.pacing import ChannelPacing
from bot.notify.payloads import subject
from bot.notify.posting import Poster
from bot.notify.queue import LeasedQueue
from bot.runtime import Runtime
from bot.slack.limits import MethodBusy
from bot.slack.timers import Timer, WallTimer
from storage.db import unit_of_work
from storage.models import Outbox
from storage.vocabulary import Note, NoteState
from storage.workspaces import installed

log = logging.getLogger("baton.delivery")

# Batches delivered side by side by the background loop (each holds its claims).
MAX_BATCHES = 16
# The longest a notification waits in its batch for a method's free call (chat.update once
# the minute's budget is spent, say); longer, it is retried when the call is free, so that
# batches waiting out a budget never stop the loop claiming what is free to go (a step DM).
METHOD_PATIENCE = 2.0


class Deliverer:
    def __init__(
        self, runtime: Runtime, *, channel_interval: float = 1.0, timer: Timer | None = None
    ) -> None:
        """`timer` paces the posts into each channel and keeps the queue's seconds (lease
        renewals, outcome lingering); default: the runtime's wall clock."""
        self.runtime = runtime
        self.channel_interval = channel_interval  # Slack: about one message a second a channel
        self._timer = timer or WallTimer(runtime.wall)
        self._queue = LeasedQueue(runtime, self._timer)
        self._pacing = ChannelPacing(runtime, self._queue, channel_interval, self._timer)
        self._poster = Poster(runtime, self._pacing)
        self._outcomes = Outcomes(runtime, self._queue)
        self._stopping = asyncio.Event()
        self._handlers: dict[str, Handler] = {kind: handler for kind, (handler, _) in OWN.items()}
        self._first_posts: dict[str, FirstPost] = {
            kind: first for kind, (_, first) in OWN.items() if first is not None
        }

    def handle(self, kind: Note, handler: Handler) -> None:
        """Other modules (home, reminders, digests) add the notifications they own; their
        posts are their own business, so no slot is reserved for them with the claim."""
        self._handlers[kind.value] = handler
        self._first_posts.pop(kind.value, None)

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
        return self._queue.idle

    async def wait_idle(self) -> None:
        """Return once no batch is being delivered (by the loop or by `deliver_due`)."""
        await self._queue.wait_idle()

    async def deliver_due(self) -> int:
        """Claim the head of every conversation that has due work and deliver them side by side."""
        if self._stopping.is_set():
            return 0
        claimed = await self._claim()
        if claimed:
            await self._deliver_batch(claimed)
        return len(claimed)

    async def pending(self) -> int:
        """Notifications still to deliver (those of uninstalled workspaces wait, uncounted)."""
        async with unit_of_work(self.runtime.sessions) as session:
            count = (
                await session.exec(
                    select(func.count())
                    .select_from(Outbox)
                    .where(Outbox.state == NoteState.PENDING, installed(col(Outbox.team_id)))
                )
            ).one()
        await observe_outbox(self.runtime)
        return int(count)

    async def _claim(self) -> list[Attempt]:
        return await claim_batch(self.runtime, self._first_post, self._pacing.reserve)

    def _first_post(self, attempt: Attempt) -> str | None:
        first = self._first_posts.get(attempt.row.kind)
        return first(attempt) if first is not None else None

    async def _deliver_batch(self, claimed: list[Attempt]) -> None:
        async with self._queue.leases(claimed):
            await self._clients(claimed[0].batch, {attempt.row.team_id for attempt in claimed})
            self._queue.working(claimed)
            await asyncio.gather(*(self._deliver(attempt) for attempt in claimed))

    async def _clients(self, batch: Batch, teams: set[str]) -> None:
        """Each workspace's client, looked up once for the batch (a lookup that fails for
        another reason is left to each notification, to fail and be retried on its own)."""
        for team_id in sorted(teams):
            try:
                batch.clients[team_id] = await self._for_team(team_id)
            except NotFound as exc:
                batch.clients[team_id] = exc
            except Exception:
                continue

    # -- one notification -------------------------------------------------------------------

    async def _deliver(self, attempt: Attempt) -> None:
        row = attempt.row
        run_id, step_run_id = subject(row.kind, row.payload)
        context = log_context(
            team=row.team_id, outbox=row.id, note=row.kind, run=run_id, step=step_run_id
        )
        try:
            with context:
                await self._attempt(attempt)
        finally:
            self._queue.report(attempt)

    async def _for_team(self, team_id: str) -> AsyncWebClient:
        return await self.runtime.slack.for_team(team_id, patience=METHOD_PATIENCE)

    async def _client(self, team_id: str, batch: Batch) -> AsyncWebClient:
        client = batch.clients.get(team_id)
        if client is None:
            try:
                client = await self._for_team(team_id)
            except NotFound as exc:
                client = exc
        if isinstance(client, NotFound):
            raise PermanentFailure(str(client))
        return client

    async def _attempt(self, attempt: Attempt) -> None:
        row = attempt.row
        metrics = self.runtime.metrics
        outcomes = self._outcomes
        if attempt.in_doubt:
            log.info("outbox %s: resuming an attempt whose outcome is unknown", row.id)
        try:
            handler = self._handlers.get(row.kind)
            if handler is None:
                raise PermanentFailure(f"no deliverer for {row.kind}")
            client = await self._client(row.team_id, attempt.batch)
            await handler(Delivery(self.runtime, client, attempt, self._poster))
        except LeaseLost as exc:
            log.warning("%s; leaving it to its new holder", exc)
        except Deferred as exc:
            delay = exc.until - self._timer.time()
            await outcomes.retry(attempt, "channel paced", delay, counts=False)
        except MethodBusy as exc:
            await outcomes.retry(attempt, f"{exc.method} paced", exc.seconds, counts=False)
        except SlackApiError as exc:
            await outcomes.failed(attempt, exc)
        except PermanentFailure as exc:
            await outcomes.dead(attempt, str(exc))
        except (ClientError, OSError, TimeoutError) as exc:
            metrics.retries.labels("connection").inc()
            reason = f"connection: {type(exc).__name__}: {exc}"
            await outcomes.retry(attempt, reason, backoff(row.attempts))
        except Exception as exc:  # a bug in a renderer must not stop the deliverer
            log.exception("outbox %s (%s) failed", row.id, row.kind)
            metrics.retries.labels("error").inc()
            await outcomes.retry(attempt, f"{type(exc).__name__}: {exc}", backoff(row.attempts))
        else:
            await outcomes.finish(attempt)


async def observe_outbox(runtime: Runtime) -> None:
    """Set the outbox gauges: how many notifications wait, and for how long the oldest has."""
    async with unit_of_work(runtime.sessions) as session:
        depth, oldest = (
            await session.exec(
                select(func.count(), func.min(Outbox.created_at)).where(
                    col(Outbox.state) == NoteState.PENDING
                )
            )
        ).one()
    runtime.metrics.outbox_depth.set(int(depth))
    age = 0.0
    if oldest is not None:
        age = max((runtime.clock.now() - aware(oldest)).total_seconds(), 0.0)
    runtime.metrics.outbox_oldest_seconds.set(age)
