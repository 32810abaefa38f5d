"""The engine on a real database when things happen at once: joins, double clicks, run numbers."""

from __future__ import annotations

import asyncio

from sqlmodel import col, select

from bot.core.errors import Conflict
from bot.core.states import StepAction
from bot.language import parse_text
from bot.people.permissions import Actor
from bot.runs.lifecycle import RunRequest, start_run
from bot.runs.steps import StepChange, change_step
from bot.runtime import Runtime
from bot.slack.installations import activate
from bot.workflows.definitions import define
from storage.db import create_engine, session_factory, unit_of_work
from storage.models import Outbox, StepRun, Workspace

OWNER = Actor("T0BATON", "U0ALICE")
BOB = Actor("T0BATON", "U0BOB")
CAROL = Actor("T0BATON", "U0CAROL")
DIAMOND = (
    "a: Start <@U0ALICE>\n"
    "b: Left <@U0BOB> after a\n"
    "c: Right <@U0CAROL> after a\n"
    "d: Join <@U0ALICE> after b, c"
)


async def ready_notes(runtime: Runtime, step_key: str) -> int:
    async with unit_of_work(runtime.sessions) as session:
        step_ids = (
            await session.exec(select(StepRun.id).where(StepRun.step_key == step_key))
        ).all()
        rows = (await session.exec(select(Outbox).where(Outbox.kind == "step_ready"))).all()
    return sum(1 for row in rows if row.payload["step_run_id"] in step_ids)


async def test_branches_finishing_at_once_make_the_join_ready_once(runtime: Runtime) -> None:
    await define(runtime, OWNER, parse_text("diamond", "Diamond", DIAMOND))
    for number in range(1, 6):
        await start_run(runtime, OWNER, RunRequest("diamond", {}, "C0GENERAL"), "usage")
        key = f"diamond-{number}"
        await change_step(runtime, OWNER, key, "a", StepChange(StepAction.DONE))
        await asyncio.gather(
            change_step(runtime, BOB, key, "b", StepChange(StepAction.DONE)),
            change_step(runtime, CAROL, key, "c", StepChange(StepAction.DONE)),
        )
    async with unit_of_work(runtime.sessions) as session:
        joins = (await session.exec(select(StepRun).where(StepRun.step_key == "d"))).all()
    assert [join.state for join in joins] == ["ready"] * 5
    assert await ready_notes(runtime, "d") == 5


async def test_a_double_click_at_once_applies_once(runtime: Runtime) -> None:
    await define(runtime, OWNER, parse_text("diamond", "Diamond", DIAMOND))
    await start_run(runtime, OWNER, RunRequest("diamond", {}, "C0GENERAL"), "usage")
    results = await asyncio.gather(
        *(
            change_step(runtime, OWNER, "diamond-1", "a", StepChange(StepAction.DONE))
            for _ in range(4)
        ),
        return_exceptions=True,
    )
    assert sum(1 for r in results if not isinstance(r, Exception)) == 1
    assert all(isinstance(r, Conflict) for r in results if isinstance(r, Exception))
    assert await ready_notes(runtime, "b") == 1


async def test_runs_started_at_once_get_distinct_numbers(runtime: Runtime) -> None:
    await define(runtime, OWNER, parse_text("diamond", "Diamond", DIAMOND))
    results = await asyncio.gather(
        *(
            start_run(runtime, OWNER, RunRequest("diamond", {}, "C0GENERAL"), "usage")
            for _ in range(5)
        )
    )
    assert sorted(run.key for run in results) == [f"diamond-{n}" for n in range(1, 6)]
    async with unit_of_work(runtime.sessions) as session:
        starts = (await session.exec(select(StepRun).where(col(StepRun.step_key) == "a"))).all()
    assert len(starts) == 5


async def test_replicas_starting_together_both_mark_the_workspace_active(
    runtime: Runtime, database_url: str
) -> None:
    # Each replica runs this at start-up; the second must not fail on the first's insert.
    other = create_engine(database_url)
    try:
        await asyncio.gather(
            *(
                activate(sessions, runtime.clock, team_id="T0NEW")
                for sessions in (runtime.sessions, session_factory(other))
                for _ in range(3)
            )
        )
    finally:
        await other.dispose()
    async with unit_of_work(runtime.sessions) as session:
        workspace = await session.get(Workspace, "T0NEW")
    assert workspace is not None and workspace.active
