"""The outbox deliverer: renders each semantic notification from the database as it is now
and sends it to Slack, in order per conversation, paced, retried, never dropped or doubled."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import and_, exists, func, update
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.outbox import AT_ONCE, Note
from bot.render.runs import run_card, step_message
from bot.runtime import Runtime
from storage.db import unit_of_work
from storage.models import Outbox, Run, StepMessage, StepRun

log = logging.getLogger("baton.delivery")

CLAIM_SECONDS = 60
BATCH = 50
MAX_ATTEMPTS = 12
# Slack answers these for good: retrying cannot help, so the message is dead and its owner told.
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


class Deliverer:
    def __init__(self, runtime: Runtime, *, channel_interval: float = 1.0) -> None:
        self.runtime = runtime
        self.channel_interval = channel_interval  # Slack: about one message a second a channel
        self._last_post: dict[str, float] = {}
        self._busy = 0
        self._stopping = asyncio.Event()
        self._handlers: dict[str, Callable[[AsyncWebClient, Outbox], Awaitable[None]]] = {
            Note.RUN_CARD: self._run_card,
            Note.RUN_EVENT: self._run_event,
            Note.STEP_READY: self._step_ready,
            Note.STEP_REFRESH: self._step_refresh,
            Note.DIRECT: self._direct,
        }

    def handle(
        self, kind: Note, handler: Callable[[AsyncWebClient, Outbox], Awaitable[None]]
    ) -> None:
        """Other modules (home, reminders, digests) add the notifications they own."""
        self._handlers[kind.value] = handler

    # -- the loop ---------------------------------------------------------------------------

    async def run_forever(self) -> None:
        signal = self.runtime.outbox_signal
        while not self._stopping.is_set():
            signal.clear()
            delivered = await self.deliver_due()
            if delivered:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(signal.wait(), timeout=0.5)

    def stop(self) -> None:
        self._stopping.set()
        self.runtime.outbox_signal.set()

    @property
    def idle(self) -> bool:
        return self._busy == 0

    async def deliver_due(self) -> int:
        """Claim the head of every conversation that has due work and deliver them side by side."""
        rows = await self._claim()
        if not rows:
            return 0
        self._busy += 1
        try:
            await asyncio.gather(*(self._deliver(row) for row in rows))
        finally:
            self._busy -= 1
        return len(rows)

    async def pending(self) -> int:
        async with unit_of_work(self.runtime.sessions) as session:
            count = (
                await session.exec(
                    select(func.count()).select_from(Outbox).where(Outbox.state == "pending")
                )
            ).one()
        depth = int(count)
        self.runtime.metrics.outbox_depth.set(depth)
        return depth

    async def _claim(self) -> list[Outbox]:
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
        async with unit_of_work(self.runtime.sessions) as session:
            query = (
                select(Outbox)
                .where(
                    Outbox.state == "pending", col(Outbox.next_attempt_at) <= now, claimable, head
                )
                .order_by(col(Outbox.id))
                .limit(BATCH)
            )
            if self.runtime.engine.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            candidates = (await session.exec(query)).all()
            claimed: list[Outbox] = []
            until = now + timedelta(seconds=CLAIM_SECONDS)
            for row in candidates:
                result = await session.exec(
                    update(Outbox)
                    .where(col(Outbox.id) == row.id, col(Outbox.state) == "pending", claimable)
                    .values(claimed_by=self.runtime.worker_id, claimed_until=until)
                )
                if result.rowcount == 1:
                    row.claimed_by = self.runtime.worker_id
                    claimed.append(row)
        return claimed

    async def _deliver(self, row: Outbox) -> None:
        handler = self._handlers.get(row.kind)
        try:
            if handler is None:
                raise PermanentFailure(f"no deliverer for {row.kind}")
            client = await self.runtime.slack.for_team(row.team_id)
            await handler(client, row)
        except SlackApiError as exc:
            await self._failed(row, exc)
        except PermanentFailure as exc:
            await self._dead(row, str(exc))
        except (OSError, TimeoutError) as exc:
            await self._retry(row, f"connection: {exc}", self._backoff(row.attempts))
        else:
            await self._finish(row, "sent")
            self.runtime.metrics.deliveries.labels("sent").inc()

    async def _failed(self, row: Outbox, exc: SlackApiError) -> None:
        response = exc.response
        error = str(response.get("error", "")) if response is not None else ""
        status = response.status_code if response is not None else 0
        if status == 429 or error == "ratelimited":
            retry_after = float(response.headers.get("Retry-After", "1") if response else 1)
            self.runtime.metrics.retries.labels("ratelimited").inc()
            await self._retry(row, "ratelimited", retry_after)
        elif status >= 500 or error in TRANSIENT_ERRORS:
            self.runtime.metrics.retries.labels("server_error").inc()
            await self._retry(row, f"{status} {error}".strip(), self._backoff(row.attempts))
        else:
            await self._dead(row, error or f"HTTP {status}")

    @staticmethod
    def _backoff(attempts: int) -> float:
        return float(min(2**attempts, 300))

    async def _retry(self, row: Outbox, reason: str, delay: float) -> None:
        if row.attempts + 1 >= MAX_ATTEMPTS:
            await self._dead(row, f"gave up after {MAX_ATTEMPTS} attempts: {reason}")
            return
        async with unit_of_work(self.runtime.sessions) as session:
            await session.exec(
                update(Outbox)
                .where(col(Outbox.id) == row.id, col(Outbox.claimed_by) == self.runtime.worker_id)
                .values(
                    attempts=row.attempts + 1,
                    last_error=reason[:500],
                    next_attempt_at=self.runtime.wall.now() + timedelta(seconds=delay),
                    claimed_by=None,
                    claimed_until=None,
                )
            )
        log.info("outbox %s retry in %.1fs: %s", row.id, delay, reason)
        asyncio.get_running_loop().call_later(delay, self.runtime.outbox_signal.set)

    async def _finish(self, row: Outbox, state: str, error: str | None = None) -> None:
        async with unit_of_work(self.runtime.sessions) as session:
            await session.exec(
                update(Outbox)
                .where(col(Outbox.id) == row.id, col(Outbox.claimed_by) == self.runtime.worker_id)
                .values(
                    state=state,
                    sent_at=self.runtime.wall.now(),
                    last_error=error,
                    claimed_until=None,
                )
            )

    async def _dead(self, row: Outbox, reason: str) -> None:
        log.warning("outbox %s (%s) is dead: %s", row.id, row.kind, reason)
        self.runtime.metrics.deliveries.labels("dead").inc()
        owner = await self._owner_of(row)
        async with unit_of_work(self.runtime.sessions) as session:
            await session.exec(
                update(Outbox)
                .where(col(Outbox.id) == row.id, col(Outbox.claimed_by) == self.runtime.worker_id)
                .values(state="dead", last_error=reason[:500], claimed_until=None)
            )
            if owner and row.kind != Note.DIRECT:
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

    # -- Slack calls, paced -----------------------------------------------------------------

    async def post(self, client: AsyncWebClient, channel: str, **kwargs: Any) -> dict[str, Any]:
        await self._pace(channel)
        response = await client.chat_postMessage(channel=channel, **kwargs)
        return dict(response.data) if isinstance(response.data, dict) else {}

    async def _pace(self, channel: str) -> None:
        loop = asyncio.get_running_loop()
        last = self._last_post.get(channel)
        if last is not None:
            wait = last + self.channel_interval - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
        self._last_post[channel] = loop.time()

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
        text, blocks = run_card(run, steps, self.runtime.clock.now())
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
                .values(
                    card_ts=str(data["ts"]), channel_id=str(data.get("channel") or run.channel_id)
                )
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
            text, blocks = step_message(run, step, user_id)
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
            text, blocks = step_message(run, step, message.user_id)
            await client.chat_update(
                channel=message.channel_id, ts=message.ts, text=text, blocks=blocks
            )

    async def _direct(self, client: AsyncWebClient, row: Outbox) -> None:
        payload = row.payload
        kwargs: dict[str, Any] = {"text": str(payload["text"])}
        if payload.get("blocks"):
            kwargs["blocks"] = payload["blocks"]
        await self.post(client, str(payload["user_id"]), **kwargs)


class PermanentFailure(Exception):
    """A notification that can never be delivered (its subject is gone)."""
