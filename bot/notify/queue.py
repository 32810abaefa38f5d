"""The leased queue: keeping the leases of the notifications being delivered, and writing
their outcomes while the claim still holds.

A replica claims a batch (`bot.notify.claims`) with a lease (`claimed_until`) on each row,
renewed here while it works and checked before every message it posts. A replica that dies
stops renewing; once the lease runs out another one takes the notification over. Outcomes of a
batch are written together: one conditional UPDATE of the values the rows share (it answers
which rows are still held), one executemany of each row's own values, and one per statement
its handlers left (see `Write`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from asyncio import FIRST_COMPLETED
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, inspect, update
from sqlalchemy.sql.dml import UpdateBase
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.notify.attempt import Attempt
from bot.notify.claims import LEASE_SECONDS
from bot.notify.coalescer import Coalescer
from bot.runtime import Runtime
from bot.slack.timers import Timer
from storage.db import unit_of_work
from storage.models import Outbox
from storage.vocabulary import NoteState

log = logging.getLogger("baton.delivery")

HEARTBEAT_SECONDS = LEASE_SECONDS / 4
# An outcome waits at most this long for the rest of its batch, to be written with theirs.
OUTCOME_LINGER = 0.25


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
                            col(Outbox.state) == NoteState.PENDING,
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
                col(Outbox.state) == NoteState.PENDING,
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
