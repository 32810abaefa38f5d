"""Slash commands and interactions, kept durably from before their ack until handled.

Slack gives each user action its own `trigger_id`. Recording (team, trigger_id) before the ack
makes a replay of a signed request, or a resend with `X-Slack-Retry-Num`, a no-op; and since
the listener's work runs after the ack, a process that dies in between leaves the row
unfinished: once its lease is out, the sweep (of any replica, or this one restarted) claims it
and dispatches it again through Bolt, re-signed, so it is handled once after all.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import tuple_, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select

from bot.runtime import Runtime
from storage.db import is_postgres, unit_of_work
from storage.models import SlackRequest

log = logging.getLogger("baton.requests")

REQUEST = "baton_request"  # the context key of the request's RequestKey
LEDGER = "baton_ledger"  # the context key of the Ledger
RECOVERED = "baton_recovered"  # set in the context of a request the sweep dispatches again
LEASE_SECONDS = 20.0
RENEW_SECONDS = LEASE_SECONDS / 4
MAX_ATTEMPTS = 3  # a request that kills its process every time is not tried forever
SOCKET_MODE = "socket_mode"  # content_type of a Socket Mode request (kept as its JSON)


@dataclass(frozen=True, slots=True)
class RequestKey:
    team_id: str
    trigger_id: str


def _lease_end(runtime: Runtime) -> datetime:
    return runtime.wall.now() + timedelta(seconds=LEASE_SECONDS)


Item = TypeVar("Item")
Outcome = TypeVar("Outcome")


class GroupCommit(Generic[Item, Outcome]):
    """Writes what concurrent callers ask for in one transaction: fifty people acting at once
    cost one commit, not fifty queued for SQLite's write lock, so their acks stay fast."""

    def __init__(self, write: Callable[[list[Item]], Awaitable[list[Outcome]]]) -> None:
        self._write = write
        self._waiting: list[tuple[Item, asyncio.Future[Outcome]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def __call__(self, item: Item) -> Outcome:
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._writer is None or self._writer.done():
            # It starts on the loop's next turn, by when the others of this moment are in.
            self._writer = asyncio.create_task(self._write_all(), name="group-commit")
        return await future

    async def _write_all(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                outcomes = await self._write([item for item, _ in batch])
            except Exception as error:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
            else:
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if not future.done():
                        future.set_result(outcome)


class Ledger:
    """The slack_request table as the middleware and the listeners use it."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._receive = GroupCommit(self._insert)
        self._finish = GroupCommit(self._mark_done)

    async def receive(self, key: RequestKey, *, body: str, content_type: str) -> bool:
        """Record the request; False when this trigger_id was already recorded (a replay)."""
        now = self.runtime.wall.now()
        row = {
            "team_id": key.team_id,
            "trigger_id": key.trigger_id,
            "body": body,
            "content_type": content_type,
            "received_at": now,
            "claimed_by": self.runtime.worker_id,
            "claimed_until": now + timedelta(seconds=LEASE_SECONDS),
            "attempts": 1,
        }
        return await self._receive(row)

    async def finish(self, key: RequestKey) -> None:
        await self._finish(key)

    @contextlib.asynccontextmanager
    async def handling(self, key: RequestKey) -> AsyncIterator[None]:
        """Hold the request's lease while its listener runs, and mark it done after (also when
        the listener failed: its error was told to the user, and running it again would repeat
        it)."""
        renewer = asyncio.create_task(_renew(self.runtime, key), name="request-lease")
        try:
            yield
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            try:
                await self.finish(key)
            except Exception:  # the sweep runs it again after the lease: better than losing it
                log.exception("could not mark request %s done", key.trigger_id)

    async def _insert(self, rows: list[dict[str, Any]]) -> list[bool]:
        dialect_insert = postgresql_insert if is_postgres(self.runtime.engine) else sqlite_insert
        table = SlackRequest.__table__  # type: ignore[attr-defined]
        # A plain connection, not an ORM session: this write is on the way to Slack's answer,
        # and a session's bookkeeping (identity map, flush, its own begin) costs it for nothing.
        async with self.runtime.engine.begin() as connection:
            result = await connection.execute(
                dialect_insert(table)
                .values(rows)
                .on_conflict_do_nothing()
                .returning(table.c.team_id, table.c.trigger_id)
            )
            inserted = {(team, trigger) for team, trigger in result.all()}
        fresh: list[bool] = []
        for row in rows:  # the same request twice in one batch: the first one is fresh
            key = (row["team_id"], row["trigger_id"])
            fresh.append(key in inserted)
            inserted.discard(key)
        return fresh

    async def _mark_done(self, keys: list[RequestKey]) -> list[None]:
        pairs = [(key.team_id, key.trigger_id) for key in keys]
        async with unit_of_work(self.runtime.sessions) as session:
            await session.exec(
                update(SlackRequest)
                .where(tuple_(col(SlackRequest.team_id), col(SlackRequest.trigger_id)).in_(pairs))
                .values(done_at=self.runtime.wall.now())
                .execution_options(synchronize_session=False)
            )
        return [None] * len(keys)


async def _renew(runtime: Runtime, key: RequestKey) -> None:
    while True:
        await asyncio.sleep(RENEW_SECONDS)
        try:
            async with unit_of_work(runtime.sessions) as session:
                await session.exec(
                    update(SlackRequest)
                    .where(_is(key), col(SlackRequest.claimed_by) == runtime.worker_id)
                    .values(claimed_until=_lease_end(runtime))
                    .execution_options(synchronize_session=False)
                )
        except Exception:
            log.exception("could not renew the lease of request %s", key.trigger_id)


def _is(key: RequestKey) -> Any:
    return (col(SlackRequest.team_id) == key.team_id) & (
        col(SlackRequest.trigger_id) == key.trigger_id
    )


async def claim_orphans(runtime: Runtime) -> list[SlackRequest]:
    """Compare-and-set the unfinished requests whose lease ran out to this worker."""
    now = runtime.wall.now()
    async with unit_of_work(runtime.sessions) as session:
        query = select(SlackRequest).where(
            col(SlackRequest.done_at).is_(None),
            col(SlackRequest.claimed_until) < now,
            col(SlackRequest.attempts) < MAX_ATTEMPTS,
        )
        found = list((await session.exec(query)).all())
        claimed: list[SlackRequest] = []
        for row in found:
            result = await session.exec(
                update(SlackRequest)
                .where(
                    _is(RequestKey(row.team_id, row.trigger_id)),
                    col(SlackRequest.claimed_until) == row.claimed_until,
                    col(SlackRequest.done_at).is_(None),
                )
                .values(
                    claimed_by=runtime.worker_id,
                    claimed_until=_lease_end(runtime),
                    attempts=row.attempts + 1,
                )
                .execution_options(synchronize_session=False)
            )
            if result.rowcount == 1:
                claimed.append(row)
    return claimed


def rebuilt(row: SlackRequest, signing_secret: str | None) -> AsyncBoltRequest:
    """The request as Slack sent it, signed anew (its own timestamp may be too old now)."""
    key = RequestKey(row.team_id, row.trigger_id)
    context: dict[str, Any] = {RECOVERED: key}
    if row.content_type == SOCKET_MODE:
        return AsyncBoltRequest(body=json.loads(row.body), context=context, mode=SOCKET_MODE)
    timestamp = str(int(time.time()))
    headers: dict[str, str | Sequence[str]] = {
        "content-type": row.content_type,
        "x-slack-request-timestamp": timestamp,
    }
    if signing_secret:
        signature = SignatureVerifier(signing_secret).generate_signature(
            timestamp=timestamp, body=row.body
        )
        headers["x-slack-signature"] = signature or ""
    return AsyncBoltRequest(body=row.body, headers=headers, context=context)


def recovery(bolt: AsyncApp, ledger: Ledger) -> Any:
    """The sweep's tick job: dispatch again each request whose process died handling it."""

    async def recover(runtime: Runtime, _now: datetime) -> int:
        handled = 0
        for row in await claim_orphans(runtime):
            key = RequestKey(row.team_id, row.trigger_id)
            log.warning("handling request %s again: its first handler never finished", key)
            request = rebuilt(row, runtime.settings.SLACK_SIGNING_SECRET)
            response = await bolt.async_dispatch(request)
            if response.status == 404:  # no listener takes it: nothing will mark it done
                await ledger.finish(key)
            handled += 1
        return handled

    return recover


def key_of(body: Mapping[str, Any], team_id: str | None) -> RequestKey | None:
    """A slash command's or interaction's key; None for what has no trigger_id (events)."""
    trigger_id = body.get("trigger_id")
    if not isinstance(trigger_id, str) or not trigger_id:
        return None
    return RequestKey(team_id or "", trigger_id[:128])
