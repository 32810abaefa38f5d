"""The sweep: one pass over due work at the business clock's time.

Due times live in our tables (Timer, Schedule, DigestSubscription), never in APScheduler's job
store (its FAQ: a persistent store cannot be shared between processes). APScheduler only calls
`Sweeper.sweep` every BATON_TICK_SECONDS; each due row is claimed with a conditional update
(and `FOR UPDATE SKIP LOCKED` on PostgreSQL), so any number of replicas may sweep and each piece
of work still happens once, and a sweep after downtime does the missed work once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from bot.runtime import Runtime
from bot.work import Work, begin
from storage.db import is_postgres
from storage.models import Timer
from storage.vocabulary import TimerKind, TimerState
from storage.workspaces import installed

log = logging.getLogger("baton.sweep")

TimerHandler = Callable[[Work, Runtime, Timer], Awaitable[None]]
TickJob = Callable[[Runtime, datetime], Awaitable[int]]  # (runtime, now) -> how much work it did
# Work for a batch's due timers of some kinds done before the batch's transaction, outside it
# (asking Slack who people are, say), so that their handlers only read the database.
TimerPreparer = Callable[[Runtime, Sequence[Timer]], Awaitable[None]]

# Due timers handled per transaction. One transaction per batch (each timer in its own
# savepoint) lets a handler merge what is due for one person in this sweep into one message.
BATCH = 200
MAX_BATCHES = 50
SWEEP_JOB_ID = "sweep"


class Sweeper:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._timer_handlers: dict[TimerKind, TimerHandler] = {}
        self._preparers: dict[TimerKind, TimerPreparer] = {}
        self._tick_jobs: dict[str, TickJob] = {}
        # Passes of one process never overlap (APScheduler's interval job and a test's call).
        self._lock = asyncio.Lock()

    def on_timer(
        self, kind: TimerKind, handler: TimerHandler, *, prepare: TimerPreparer | None = None
    ) -> None:
        """Handle due Timer rows of this kind.

        The handler runs inside the transaction that claimed the row, so its writes commit
        atomically with the claim; if it raises, the claim rolls back and a later sweep tries
        again. Kinds with no handler are left alone. `prepare`, if given, first sees a batch's
        due rows of the kinds it was given for, outside any transaction (the batch is then
        selected again and claimed).
        """
        if kind in self._timer_handlers:
            raise ValueError(f"timer kind {kind!r} already has a handler")
        self._timer_handlers[kind] = handler
        if prepare is not None:
            self._preparers[kind] = prepare

    def on_tick(self, name: str, job: TickJob) -> None:
        """Extra due work each sweep; the job claims its own rows with a conditional update."""
        if name in self._tick_jobs:
            raise ValueError(f"tick job {name!r} already registered")
        self._tick_jobs[name] = job

    async def sweep(self) -> int:
        """One pass at runtime.clock.now(); tests call it directly after moving the clock."""
        async with self._lock:
            now = self.runtime.clock.now()
            self.runtime.metrics.sweeps.inc()
            done = await self._sweep_timers(now)
            for name, job in self._tick_jobs.items():
                try:
                    done += await job(self.runtime, now)
                except Exception:
                    log.exception("tick job %s failed; the next sweep tries again", name)
            return done

    async def wait_idle(self) -> None:
        """Return once no pass is running (used at shutdown, before the engine closes)."""
        async with self._lock:
            pass

    async def _sweep_timers(self, now: datetime) -> int:
        if not self._timer_handlers:
            return 0
        done = 0
        failed: set[int] = set()
        # Batches until nothing is left: a handler may add work due at once (an escalation
        # whose time passed while Baton was down), which then goes out in this same pass.
        for _ in range(MAX_BATCHES):
            handled, selected, batch_failed = await self._sweep_batch(now, failed)
            done += handled
            failed |= batch_failed
            if handled == 0 and selected < BATCH:
                break
        return done

    async def _sweep_batch(self, now: datetime, failed: set[int]) -> tuple[int, int, set[int]]:
        """Claim up to BATCH due timers and handle each; returns (handled, selected, ids whose
        handler raised)."""
        handled = 0
        batch_failed: set[int] = set()
        prepared = False
        while True:
            async with begin(self.runtime, now=now) as work:
                query = self._due(now, failed)
                if is_postgres(self.runtime.engine):
                    # Another replica's batch is skipped, not waited for: they share the work.
                    query = query.with_for_update(skip_locked=True)
                selected = list((await work.session.exec(query)).all())
                waiting = [timer for timer in selected if timer.kind in self._preparers]
                if prepared or not waiting:
                    for timer in await self._claim(work.session, selected, now):
                        if await self._handle(work, timer):
                            handled += 1
                        else:
                            assert timer.id is not None
                            batch_failed.add(timer.id)
                    break
            # The transaction wrote nothing: the preparers work outside it, then the batch is
            # selected again (another replica may have taken some of it meanwhile).
            await self._prepare(waiting)
            prepared = True
        return handled, len(selected), batch_failed

    async def _handle(self, work: Work, timer: Timer) -> bool:
        """Run the timer's handler in a savepoint of its own, so that one that raises undoes
        only its own writes and gives its claim back; False if it raised."""
        try:
            async with work.session.begin_nested():
                await self._timer_handlers[timer.kind](work, self.runtime, timer)
        except Exception:
            log.exception("timer %s (%s) failed; retried later", timer.id, timer.kind)
            await self._unclaim(work.session, timer)
            return False
        self.runtime.metrics.fired.labels(kind=timer.kind).inc()
        return True

    def _due(self, now: datetime, failed: set[int]) -> SelectOfScalar[Timer]:
        """The next batch of due timers that have a handler, oldest first."""
        query = (
            select(Timer)
            .where(
                col(Timer.state) == TimerState.PENDING,
                col(Timer.due_at) <= now,
                col(Timer.kind).in_(self._timer_handlers),
                installed(col(Timer.team_id)),
            )
            .order_by(col(Timer.due_at), col(Timer.id))
            .limit(BATCH)
        )
        return query.where(col(Timer.id).not_in(failed)) if failed else query

    async def _prepare(self, timers: list[Timer]) -> None:
        """Give each preparer the batch's due timers of its kinds."""
        gathered: dict[TimerPreparer, list[Timer]] = {}
        for timer in timers:
            gathered.setdefault(self._preparers[timer.kind], []).append(timer)
        for prepare, mine in gathered.items():
            try:
                await prepare(self.runtime, mine)
            except Exception:  # the handlers then work with what the database holds
                log.exception("preparing %d due timers failed", len(mine))

    async def _claim(
        self, session: AsyncSession, timers: list[Timer], now: datetime
    ) -> list[Timer]:
        """Compare-and-set pending -> fired: a row another replica fired meanwhile is left out.

        The claim is the transaction's first write, so on SQLite it also takes the write lock
        before any savepoint (SQLite's driver would otherwise commit at each savepoint's end).
        """
        if not timers:
            return []
        worker = self.runtime.worker_id
        result = await session.exec(
            update(Timer)
            .where(
                col(Timer.id).in_([timer.id for timer in timers]),
                col(Timer.state) == TimerState.PENDING,
            )
            .values(state=TimerState.FIRED, fired_at=now, claimed_by=worker)
            .returning(col(Timer.id))
            .execution_options(synchronize_session=False)
        )
        won = set(result.scalars().all())
        claimed = [timer for timer in timers if timer.id in won]
        for timer in claimed:
            # The object shows what the row now holds, without a second write at flush.
            set_committed_value(timer, "state", TimerState.FIRED)
            set_committed_value(timer, "fired_at", now)
            set_committed_value(timer, "claimed_by", worker)
        return claimed

    async def _unclaim(self, session: AsyncSession, timer: Timer) -> None:
        """The handler failed: the claim is given back so a later sweep tries again."""
        await session.exec(
            update(Timer)
            .where(col(Timer.id) == timer.id)
            .values(state=TimerState.PENDING, fired_at=None, claimed_by=None)
            .execution_options(synchronize_session=False)
        )


def start_scheduler(sweeper: Sweeper, tick_seconds: float) -> AsyncIOScheduler:
    """Run `sweeper.sweep` every tick on APScheduler, and once right away to catch up after
    downtime. Memory job store, one fixed job id, coalesced, never two at once."""
    scheduler = AsyncIOScheduler()
    scheduler.add_job(
        _sweep_safely,
        "interval",
        args=[sweeper],
        seconds=tick_seconds,
        id=SWEEP_JOB_ID,
        replace_existing=True,
        coalesce=True,
        max_instances=1,
        next_run_time=sweeper.runtime.wall.now(),  # ticks follow real time, not business time
    )
    scheduler.start()
    return scheduler


async def stop_scheduler(scheduler: AsyncIOScheduler, sweeper: Sweeper) -> None:
    """Stop ticking and let a sweep in progress finish before the engine goes away."""
    if scheduler.running:
        scheduler.shutdown(wait=False)
    await sweeper.wait_idle()


async def _sweep_safely(sweeper: Sweeper) -> None:
    try:
        await sweeper.sweep()
    except Exception:
        log.exception("sweep failed; the next tick tries again")
