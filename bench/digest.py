"""The 1,000-run digest against one plain SQL query fetching the same rows.

`.venv/bin/python -m bench.digest` seeds a channel with 1,000 active runs (five steps each,
blocked and overdue ones among them, long titles and reasons) plus a finished history, then
times building the digest (every query, the projections, the templates and the Block Kit)
against one `SELECT ... FROM run JOIN step_run` of the channel's active runs and their steps.
Target: at most 3. On SQLite always; on PostgreSQL too when it is reachable.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy import insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

from bench.table import Row, format_table
from bot.digests.build import TEMPLATE, compose
from bot.digests.reading import gather
from bot.digests.subscriptions import Window
from bot.slack.text import escape
from bot.templates import Templates
from storage.db import create_engine, session_factory, unit_of_work
from storage.migrate import upgrade
from storage.models import Run, StepRun, Workflow, WorkflowStep, WorkflowVersion

TEAM = "T0BATON"
CHANNEL = "C0GENERAL"
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
TARGET = 3.0
REPEATS = 9
HOUR = 3600
DAY = 24 * HOUR
PEOPLE = ("U0ALICE", "U0BOB", "U0CAROL", "U0DAVE")

# (key, title, kind, assignee kind, assignee, after, due seconds)
STEPS: tuple[tuple[str, str, str, str | None, str | None, list[str], int | None], ...] = (
    ("docs", "Collect signed documents", "task", "user", "U0ALICE", [], DAY),
    ("laptop", "Prepare laptop", "task", "group", "S0ITTEAM", ["docs"], 2 * DAY),
    ("accounts", "Create accounts", "task", "user", "U0CAROL", ["docs"], DAY),
    ("lunch", "Welcome lunch", "task", "user", "U0DAVE", ["laptop", "accounts"], None),
    ("signoff", "Sign-off", "approval", "user", "U0DAVE", ["lunch"], 4 * HOUR),
)
# Text as long and awkward as people type it: Slack's control characters, and more of it than
# a line should show. Titles are stored escaped, as runs store them; reasons as typed.
LONG_TITLE = escape(
    "Onboard <Ana & Bo> " + "with a very long description of the new hire's role " * 4
)
LONG_REASON = "Waiting for <HR> & legal to agree on the contract; " * 12
# executemany wants every row to name the same columns.
_STEP_DEFAULTS: dict[str, Any] = dict.fromkeys(
    (
        "ready_at",
        "finished_at",
        "due_at",
        "blocked_reason",
        "claimed_by",
        "outcome_by",
        "outcome_note",
        "wait_seconds",
        "hook",
        "started_at",
    ),
)


def _step(run_id: int, position: int, **values: Any) -> dict[str, Any]:
    key, title, kind, a_kind, who, after, due = STEPS[position]
    return {
        **_STEP_DEFAULTS,
        "team_id": TEAM,
        "run_id": run_id,
        "position": position,
        "step_key": key,
        "title": title,
        "kind": kind,
        "assignee_kind": a_kind,
        "assignee_id": who,
        "after": after,
        "due_seconds": due,
        "output": {},
        "revision": 1,
        "state": "waiting",
        **values,
    }


def _step_rows(run_id: int, index: int, created: datetime, now: datetime) -> list[dict[str, Any]]:
    """Five steps of a run `index` in a spread of states: docs done, laptop in progress (or
    blocked, or claimed), accounts ready and sometimes overdue, the rest waiting."""
    rows = []
    for position, (key, _, _, _, _, _, due) in enumerate(STEPS):
        row = _step(run_id, position)
        if key == "docs":
            row.update(
                state="done",
                ready_at=created,
                finished_at=created + timedelta(hours=5),
                outcome_by="U0ALICE",
            )
        elif key in ("laptop", "accounts"):
            ready = created + timedelta(hours=5)
            state = "in_progress" if key == "laptop" else "ready"
            reason = None
            if key == "laptop" and index % 7 == 0:
                state, reason = "blocked", LONG_REASON
            row.update(
                state=state,
                ready_at=ready,
                blocked_reason=reason,
                due_at=ready + timedelta(seconds=due or 0),
            )
            if key == "laptop" and index % 2:
                row["claimed_by"] = PEOPLE[1 + index % 2]
        rows.append(row)
    return rows


async def seed(
    engine: AsyncEngine,
    *,
    active: int = 1000,
    completed: int = 60,
    now: datetime = NOW,
    channel_id: str = CHANNEL,
) -> None:
    """A workflow with `active` runs in the channel and `completed` finished ones (the last 30
    days' history for projections and bottlenecks)."""
    async with engine.begin() as conn:
        workflow_id = (
            await conn.execute(
                insert(Workflow).returning(col(Workflow.id)),
                [
                    {
                        "team_id": TEAM,
                        "name": "onboarding",
                        "owner_id": "U0ALICE",
                        "editors": [],
                        "runners": [],
                        "latest_version": 1,
                        "next_run_number": active + completed + 1,
                        "created_at": now - timedelta(days=60),
                        "updated_at": now - timedelta(days=60),
                    }
                ],
            )
        ).scalar_one()
        version_id = (
            await conn.execute(
                insert(WorkflowVersion).returning(col(WorkflowVersion.id)),
                [
                    {
                        "team_id": TEAM,
                        "workflow_id": workflow_id,
                        "number": 1,
                        "title": "Onboarding",
                        "description": "",
                        "params": [],
                        "created_by": "U0ALICE",
                        "created_at": now - timedelta(days=60),
                    }
                ],
            )
        ).scalar_one()
        await conn.execute(
            insert(WorkflowStep),
            [
                {
                    "team_id": TEAM,
                    "version_id": version_id,
                    "position": i,
                    "step_key": key,
                    "title": title,
                    "kind": kind,
                    "assignee_kind": a_kind,
                    "assignee_value": who,
                    "after": after,
                    "due_seconds": due,
                }
                for i, (key, title, kind, a_kind, who, after, due) in enumerate(STEPS)
            ],
        )
        runs: list[dict[str, Any]] = []
        for n in range(1, completed + active + 1):
            done = n <= completed
            created = (
                now - timedelta(days=29) + timedelta(hours=9 * n % (24 * 25))
                if done
                else now - timedelta(hours=6 + n % 40)
            )
            runs.append(
                {
                    "team_id": TEAM,
                    "workflow_id": workflow_id,
                    "version_id": version_id,
                    "number": n,
                    "key": f"onboarding-{n}",
                    "title": LONG_TITLE if n % 5 == 0 else f"Onboard hire {n}",
                    "owner_id": PEOPLE[n % 4],
                    "channel_id": channel_id,
                    "params": {},
                    "state": "completed" if done else "active",
                    "deadline": now + timedelta(days=1 + n % 3) if n % 3 == 0 else None,
                    "created_at": created,
                    "finished_at": created + timedelta(days=3, hours=n % 7) if done else None,
                    "revision": 1,
                }
            )
        ids = (
            (
                await conn.execute(
                    insert(Run).returning(col(Run.id), sort_by_parameter_order=True), runs
                )
            )
            .scalars()
            .all()
        )
        steps: list[dict[str, Any]] = []
        for n, (run_id, run) in enumerate(zip(ids, runs, strict=True), start=1):
            assert run_id is not None
            if run["state"] == "completed":
                steps += _finished_steps(run_id, run["created_at"], n)
            else:
                steps += _step_rows(run_id, n, run["created_at"], now)
        await conn.execute(insert(StepRun), steps)
    async with engine.begin() as conn:
        # Planner statistics, as autovacuum (or SQLite's optimizer) would have them by now.
        await conn.execute(text("ANALYZE"))


def _finished_steps(run_id: int, created: datetime, n: int) -> list[dict[str, Any]]:
    moment, rows = created, []
    for position, step in enumerate(STEPS):
        took = timedelta(hours=2 + (n * (position + 3)) % 30)
        rows.append(
            _step(
                run_id,
                position,
                state="done",
                ready_at=moment,
                finished_at=moment + took,
                outcome_by=step[4],
            )
        )
        moment += took
    return rows


PLAIN_QUERY = text(
    "SELECT r.id, r.key, r.title, r.owner_id, r.workflow_id, r.state, r.created_at,"
    " r.finished_at, r.deadline, r.reason, s.run_id, s.step_key, s.title, s.kind, s.state,"
    " s.assignee_kind, s.assignee_id, s.claimed_by, s.after, s.due_seconds, s.wait_seconds,"
    " s.ready_at, s.finished_at, s.due_at, s.blocked_reason, s.outcome_note, s.hook"
    " FROM run r JOIN step_run s ON s.run_id = r.id"
    " WHERE r.team_id = :team AND r.channel_id = :channel AND r.state = 'active'"
    " ORDER BY s.run_id, s.position"
)


async def plain_fetch(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        rows = (await conn.execute(PLAIN_QUERY, {"team": TEAM, "channel": CHANNEL})).all()
    return len(rows)


async def build(engine: AsyncEngine, templates: Templates) -> int:
    sessions = session_factory(engine)
    async with unit_of_work(sessions) as session:
        data = await gather(
            session,
            team_id=TEAM,
            channel_id=CHANNEL,
            now=NOW,
            window=Window(NOW - timedelta(days=1), NOW),
        )
    _, blocks = compose(data, templates.macros(TEMPLATE))
    return len(blocks)


async def _ms(job: Callable[[], Awaitable[int]]) -> float:
    started = time.perf_counter()
    await job()
    return (time.perf_counter() - started) * 1000


async def _side_by_side(
    measured: Callable[[], Awaitable[int]], baseline: Callable[[], Awaitable[int]]
) -> tuple[float, float]:
    """Medians of the two, timed turn about so a busy machine slows both alike."""
    pairs = [(await _ms(measured), await _ms(baseline)) for _ in range(REPEATS)]
    return statistics.median(a for a, _ in pairs), statistics.median(b for _, b in pairs)


async def measure(url: str, backend: str) -> Row:
    engine = create_engine(url)
    try:
        await upgrade(engine)
        await seed(engine)
        templates = Templates()
        await build(engine, templates)  # warm up: compiled queries and templates
        await plain_fetch(engine)
        measured, baseline = await _side_by_side(
            lambda: build(engine, templates), lambda: plain_fetch(engine)
        )
    finally:
        await engine.dispose()
    return Row.of(f"1,000-run digest vs one SQL query ({backend})", measured, baseline, TARGET)


POSTGRES_URL = os.environ.get(
    "BATON_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


async def _with_postgres() -> Row | None:
    dsn = make_url(POSTGRES_URL).set(drivername="postgresql")
    admin = dsn.render_as_string(hide_password=False)
    try:
        conn = await asyncpg.connect(admin, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return None
    name = f"baton_bench_{uuid.uuid4().hex[:10]}"
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
        try:
            url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
            return await measure(url, "PostgreSQL")
        finally:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def run() -> list[Row]:
    with tempfile.TemporaryDirectory() as folder:
        rows = [await measure(f"sqlite:///{folder}/bench.db", "SQLite")]
    postgres = await _with_postgres()
    if postgres is not None:
        rows.append(postgres)
    return rows


if __name__ == "__main__":
    print(format_table(asyncio.run(run())))
