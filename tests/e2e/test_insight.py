"""Insight from a real finished history: three runs of a release workflow worked through the
engine at known times, then the bottleneck and ETA numbers checked against values worked out
by hand, in the services and where people read them (`status`, `show`, the digest)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import select

from bot.digests.insight import Bottleneck, PlanStep, Shape, bottlenecks, histories
from bot.language import StepDef, WorkflowDef, remaining_critical
from storage.db import session_factory, unit_of_work
from storage.models import Workflow
from tests.stack import START, Stack

RELEASE = """define release Ship a release
build: Build <@U0ALICE|alice> due 1d
test: Test <@U0BOB|bob> after build due 2d
docs: Write release notes <@U0CAROL|carol> after build due 1h
ship: Ship <@U0DAVE|dave> after test, docs due 4h"""

OWNERS = {"build": "U0ALICE", "test": "U0BOB", "docs": "U0CAROL", "ship": "U0DAVE"}
# How long each step of the three finished runs took, ready -> done, in hours.
HISTORY = (
    {"build": 2, "test": 10, "docs": 20, "ship": 1},
    {"build": 4, "test": 6, "docs": 30, "ship": 1},
    {"build": 3, "test": 8, "docs": 25, "ship": 2},
)
# By hand: the medians are build 3h, test 8h, docs 25h, ship 1h, so with history the longest
# chain is build -> docs -> ship, 3 + 25 + 1 = 29h; the plan's is build -> test -> ship,
# 1d + 2d + 4h = 76h.
HOURS = timedelta(hours=1)


def date_token(moment: datetime) -> str:
    """How Slack text carries a date every reader sees in their own zone."""
    return f"<!date^{int(moment.timestamp())}^"


async def done(stack: Stack, run: str, step: str) -> None:
    await stack.command(f"done {run} {step}", user=OWNERS[step])
    assert stack.ephemeral(OWNERS[step]).startswith("Done")


async def work_through(stack: Stack, run: str, hours: dict[str, int]) -> None:
    """build, then test and docs side by side, then ship, each taking `hours`."""
    stack.clock.advance(hours["build"] * HOURS)
    await done(stack, run, "build")
    first, second = sorted(("test", "docs"), key=hours.__getitem__)
    stack.clock.advance(hours[first] * HOURS)
    await done(stack, run, first)
    stack.clock.advance((hours[second] - hours[first]) * HOURS)
    await done(stack, run, second)
    stack.clock.advance(hours["ship"] * HOURS)
    await done(stack, run, "ship")


async def test_plan_then_history_drive_eta_and_bottlenecks(stack: Stack) -> None:
    await stack.command(RELEASE, user="U0ALICE")
    await stack.command("show release", user="U0ALICE")
    shown = stack.ephemeral("U0ALICE")
    assert "By the plan: 3d4h along `build` → `test` → `ship`" in shown
    assert "After 3 more completed runs" in shown

    # Before any history the run's ETA is the plan's: START + 76h.
    await stack.command("run release", user="U0ALICE")
    await stack.command("status release-1", user="U0ALICE")
    status = str(stack.emulator.ephemerals("U0ALICE")[-1].blocks)
    assert f"Projected finish {date_token(START + 76 * HOURS)}" in status
    assert "from the plan's due times" in status
    assert "critical path: `build` → `test` → `ship`" in status

    await work_through(stack, "release-1", HISTORY[0])
    for n, hours in enumerate(HISTORY[1:], start=2):
        await stack.command("run release", user="U0ALICE")
        await work_through(stack, f"release-{n}", hours)
    now = stack.clock.now()
    assert now == START + (23 + 35 + 30) * HOURS  # the three runs one after another

    engine = stack.baton.runtime.engine
    async with unit_of_work(session_factory(engine)) as session:
        found = await bottlenecks(session, team_id="T0BATON", now=now, channel_id="C0GENERAL")
        workflow = (await session.exec(select(Workflow))).one()
        assert workflow.id is not None
        history = await histories(session, team_id="T0BATON", workflow_ids=[workflow.id])
    assert found == [
        Bottleneck("release", "docs", 25 * HOURS, 3),
        Bottleneck("release", "test", 8 * HOURS, 3),
        Bottleneck("release", "build", 3 * HOURS, 3),
        Bottleneck("release", "ship", 1 * HOURS, 3),
    ]
    assert history[workflow.id].runs == 3
    assert dict(history[workflow.id].medians) == {
        "build": 3 * HOURS,
        "test": 8 * HOURS,
        "docs": 25 * HOURS,
        "ship": 1 * HOURS,
    }

    await stack.command("show release", user="U0ALICE")
    assert "From its last 3 completed runs: 1d5h along `build` → `docs` → `ship`" in (
        stack.ephemeral("U0ALICE")
    )

    # Two runs with deadlines (18:00 in Alice's Berlin, 17:00 UTC). An hour in, build has 2h of
    # its 3h median left, then docs 25h and ship 1h: finish = now + 1h + 28h.
    await stack.command("run release by 2026-11-28", user="U0ALICE")
    await stack.command("run release by 2026-11-27", user="U0ALICE")
    stack.clock.advance(HOURS)
    finish = now + 29 * HOURS
    assert finish == datetime(2026, 11, 28, 5, 0, tzinfo=UTC)
    await stack.command("status release-4", user="U0ALICE")
    status = str(stack.emulator.ephemerals("U0ALICE")[-1].blocks)
    assert f"Projected finish {date_token(finish)}" in status
    assert "from its last 3 completed runs" in status
    assert "critical path: `build` → `docs` → `ship`" in status
    assert "on track for its deadline" in status
    await stack.command("status release-5", user="U0ALICE")
    assert "12h past its deadline" in str(stack.emulator.ephemerals("U0ALICE")[-1].blocks)

    await stack.command("digest now", user="U0ALICE")
    digest = str(stack.emulator.messages("C0GENERAL")[-1].blocks)
    assert "`release` · `docs`: median 1d 1h over 3 runs" in digest
    assert digest.index("`docs`: median") < digest.index("`test`: median")
    assert f"projected {date_token(finish)}" in digest
    assert "12h late (from 3 past runs)" in digest  # release-5, and only it, is at risk
    assert "At risk of missing the deadline (1)" in digest


def _shape_and_definition(
    durations: list[int], edges: list[tuple[int, int]], order: list[int]
) -> tuple[Shape, WorkflowDef]:
    after = {i: tuple(f"s{a}" for a, b in edges if b == i) for i in range(len(durations))}
    plan = [PlanStep(f"s{i}", after[i], durations[i] * HOURS) for i in order]
    steps = tuple(
        StepDef(id=f"s{i}", title=f"s{i}", after=after[i], due=durations[i] * HOURS) for i in order
    )
    return Shape.of(plan), WorkflowDef(name="w", title="w", steps=steps)


@st.composite
def dags(draw: st.DrawFn) -> tuple[list[int], list[tuple[int, int]], list[int], set[int]]:
    n = draw(st.integers(1, 8))
    durations = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))  # ties galore
    pairs = [(a, b) for a in range(n) for b in range(a + 1, n)]
    edges = [pair for pair in pairs if draw(st.booleans())]
    order = draw(st.permutations(range(n)))  # definition order differs from dependency order
    done = set(draw(st.lists(st.integers(0, n - 1), unique=True)))
    return durations, edges, list(order), done


@given(dags())
def test_longest_chain_is_the_plans_remaining_critical_path(
    dag: tuple[list[int], list[tuple[int, int]], list[int], set[int]],
) -> None:
    durations, edges, order, done = dag
    shape, defn = _shape_and_definition(durations, edges, order)
    keys = {f"s{i}" for i in done}
    spans = {f"s{i}": d * HOURS for i, d in enumerate(durations)}
    assert shape.longest_chain(spans, keys) == remaining_critical(defn, keys)
