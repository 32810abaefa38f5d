"""SQL statements per Done click: a 10-step run against a 1,000-step run.

Both runs are chains of tasks with a due time (so reminders are set too), and the click is on
the first step, so it makes exactly one step ready in each. The steps a click makes ready cost
their own statements; stars (every step after the first) show that this cost per step does not
grow with the run either. A click's cost should not grow with
the run: every statement the engine sends (SQLAlchemy's `before_cursor_execute`) is counted,
first for the click as a Slack button runs it (who the clicker is, then `change_step`), then for
delivering what it caused (the redrawn DM, the card, its thread line, the next step's DM).
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event

from bench.table import Row
from bot.app.composition import Baton, create_app
from bot.config import Settings
from bot.core.clock import ManualClock
from bot.core.states import StepAction
from bot.language import Assignee, StepDef, WorkflowDef
from bot.people.permissions import actor_for
from bot.runs.lifecycle import RunRequest, start_run
from bot.runs.steps import StepChange, change_step
from bot.slack_emulator import SlackEmulator
from bot.workflows.store import add_steps, add_version
from storage.db import unit_of_work
from storage.migrate import upgrade
from storage.models import Workflow
from storage.vocabulary import AssigneeKind

TEAM = "T0BATON"
USER = "U0ALICE"
CHANNEL = "C0GENERAL"
START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
SMALL, LARGE = 10, 1000
TARGET = 1.0

_T = TypeVar("_T")


class StatementCounter:
    def __init__(self, baton: Baton) -> None:
        self.count = 0
        event.listen(baton.runtime.engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, *_: Any) -> None:
        self.count += 1

    async def measure(self, work: Callable[[], Awaitable[_T]]) -> tuple[int, _T]:
        before = self.count
        result = await work()
        return self.count - before, result


def _key(i: int) -> str:
    return f"s{i:04d}"


def workflow(size: int, *, fan_out: bool = False) -> WorkflowDef:
    """Tasks for alice with a due time: a chain (each after the one before it), or a star
    (every step after the first), whose first step's Done makes all the others ready."""
    alice = Assignee(AssigneeKind.USER, USER)
    steps = tuple(
        StepDef(
            id=_key(i),
            title=f"Step {i}",
            assignee=alice,
            after=(_key(0) if fan_out else _key(i - 1),) if i else (),
            due=timedelta(days=1),
        )
        for i in range(size)
    )
    shape = "star" if fan_out else "chain"
    return WorkflowDef(name=f"{shape}-{size}", title=f"A {shape} of {size} steps", steps=steps)


@asynccontextmanager
async def _baton(folder: str) -> AsyncIterator[Baton]:
    async with SlackEmulator.default() as emulator:
        settings = Settings(
            _env_file=None,
            SLACK_BOT_TOKEN="xoxb-emulator",
            SLACK_SIGNING_SECRET="bench",
            SLACK_API_URL=emulator.api_url,
            BATON_DATABASE_URL=f"sqlite:///{Path(folder) / 'statements.db'}",
        )
        # Not started: no background deliverer or sweeper adds statements of its own.
        baton = create_app(settings, clock=ManualClock(START), channel_interval=0.0)
        await upgrade(baton.runtime.engine)
        try:
            yield baton
        finally:
            await baton.runtime.engine.dispose()


async def _store(baton: Baton, defn: WorkflowDef) -> None:
    """The workflow's rows as `define` writes them, without the language's 100-step limit
    (a 1,000-step run exists to show what grows with the run, not as something to define)."""
    now = baton.runtime.clock.now()
    async with unit_of_work(baton.runtime.sessions) as session:
        workflow = Workflow(
            team_id=TEAM,
            name=defn.name,
            owner_id=USER,
            latest_version=1,
            created_at=now,
            updated_at=now,
        )
        session.add(workflow)
        await session.flush()
        version = add_version(
            session, workflow=workflow, number=1, defn=defn, created_by=USER, now=now
        )
        await session.flush()
        add_steps(session, version=version, defn=defn)


async def _deliver_all(baton: Baton) -> int:
    delivered = 0
    while found := await baton.deliverer.deliver_due():
        delivered += found
    return delivered


async def _click_costs(
    baton: Baton, counter: StatementCounter, defn: WorkflowDef, *, deliver: bool = True
) -> tuple[int, int]:
    """(statements in the click, statements delivering what it caused) for a fresh run;
    `deliver=False` leaves what it caused undelivered (0 for the second figure)."""
    runtime = baton.runtime
    actor = await actor_for(runtime, TEAM, USER)
    await _store(baton, defn)
    run = await start_run(runtime, actor, RunRequest(defn.name, {}, CHANNEL), "")
    await _deliver_all(baton)

    async def click() -> None:
        # What the Done button's listener does after its ack.
        clicker = await actor_for(runtime, TEAM, USER)
        await change_step(runtime, clicker, run.key, _key(0), StepChange(StepAction.DONE))

    in_click, _ = await counter.measure(click)
    if not deliver:
        return in_click, 0
    in_delivery, delivered = await counter.measure(lambda: _deliver_all(baton))
    if delivered < 4:  # the DM redrawn, the thread line, the card, the next step's DM
        raise RuntimeError(f"the click caused only {delivered} deliveries")
    return in_click, in_delivery


async def run() -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="baton-bench-") as folder:
        async with _baton(folder) as baton:
            counter = StatementCounter(baton)
            await _click_costs(baton, counter, workflow(2))  # warm-up: caches, the person's row
            small = await _click_costs(baton, counter, workflow(SMALL))
            large = await _click_costs(baton, counter, workflow(LARGE))
            # Per step made ready: a star's click less a chain's click of the same size.
            small_star = await _click_costs(baton, counter, workflow(SMALL, fan_out=True))
            large_star = await _click_costs(
                baton, counter, workflow(LARGE, fan_out=True), deliver=False
            )
    per_small = (small_star[0] - small[0]) / (SMALL - 2)
    per_large = (large_star[0] - large[0]) / (LARGE - 2)
    unit = "stmts"
    return [
        Row.of("SQL per Done click, 1,000 vs 10 steps", large[0], small[0], TARGET, unit),
        Row.of("SQL delivering a click's notes, 1,000 vs 10", large[1], small[1], TARGET, unit),
        Row.of("SQL per step a click makes ready, 1,000 vs 10", per_large, per_small, TARGET, unit),
    ]


if __name__ == "__main__":
    from bench.table import format_table

    print(format_table(asyncio.run(run())))
