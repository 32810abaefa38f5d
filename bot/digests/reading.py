"""What a channel's digest reads, in a few set-wise queries: column tuples, not ORM objects,
since a channel may have a thousand active runs. Waiting steps need no read and done ones only
their key, so the cost of a big channel is the cost of reading its rows."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Executable
from sqlalchemy import select as select_columns
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.states import OPEN_STATES, SATISFIED_STATES
from bot.digests.insight import (
    STEP_COLUMNS,
    Bottleneck,
    History,
    PlanStep,
    Shape,
    StepRow,
    bottlenecks,
    histories,
    planned,
)
from bot.digests.subscriptions import Window
from storage.models import Run, StepRun, WorkflowStep
from storage.vocabulary import RunState, StepState

NEEDS_PEOPLE = sorted({*OPEN_STATES, StepState.FAILED})


@dataclass(frozen=True, slots=True)
class RunRow:
    id: int
    key: str
    title: str
    owner_id: str
    workflow_id: int
    version_id: int
    state: str
    created_at: datetime
    finished_at: datetime | None
    deadline: datetime | None
    reason: str | None


RUN_COLUMNS = (
    col(Run.id),
    col(Run.key),
    col(Run.title),
    col(Run.owner_id),
    col(Run.workflow_id),
    col(Run.version_id),
    col(Run.state),
    col(Run.created_at),
    col(Run.finished_at),
    col(Run.deadline),
    col(Run.reason),
)


@dataclass
class DigestData:
    channel_id: str
    now: datetime
    window: Window
    active: list[RunRow]
    steps: dict[int, list[StepRow]]
    """The open and failed steps of each active run (the ones anybody needs to hear about)."""
    done: dict[int, set[str]]
    """The done and skipped steps of each active run; the rest are waiting."""
    shapes: dict[int, Shape]
    finished: list[RunRow]
    histories: dict[int, History]
    bottlenecks: list[Bottleneck]

    @property
    def quiet(self) -> bool:
        return not self.active and not self.finished


async def _rows(session: AsyncSession, query: Executable) -> Sequence[Sequence[Any]]:
    """Column rows straight from the connection of the session's transaction: a big channel's
    steps need no ORM identity map."""
    connection = await session.connection()
    rows: Sequence[Sequence[Any]] = (await connection.execute(query)).all()
    return rows


async def gather(
    session: AsyncSession, *, team_id: str, channel_id: str, now: datetime, window: Window
) -> DigestData:
    in_channel = (col(Run.team_id) == team_id, col(Run.channel_id) == channel_id)
    active = [
        RunRow(*values)
        for values in await _rows(
            session,
            select_columns(*RUN_COLUMNS)
            .where(*in_channel, col(Run.state) == RunState.ACTIVE)
            .order_by(col(Run.created_at), col(Run.id)),
        )
    ]
    # Waiting steps need no read (their plan is their version's) and done ones only their key,
    # so a big channel's rows cost little more than the open steps people need to hear about.
    steps: dict[int, list[StepRow]] = defaultdict(list)
    done: dict[int, set[str]] = defaultdict(set)
    if active:
        of_active = (*in_channel, col(Run.state) == RunState.ACTIVE)
        for values in await _rows(
            session,
            select_columns(*STEP_COLUMNS)
            .join(Run, col(Run.id) == col(StepRun.run_id))
            .where(*of_active, col(StepRun.state).in_(NEEDS_PEOPLE))
            .order_by(col(StepRun.run_id), col(StepRun.position)),
        ):
            row = StepRow(*values)
            steps[row.run_id].append(row)
        for run_id, key in await _rows(
            session,
            select_columns(col(StepRun.run_id), col(StepRun.step_key))
            .join(Run, col(Run.id) == col(StepRun.run_id))
            .where(*of_active, col(StepRun.state).in_(SATISFIED_STATES)),
        ):
            done[run_id].add(key)
    finished = [
        RunRow(*values)
        for values in await _rows(
            session,
            select_columns(*RUN_COLUMNS)
            .where(
                *in_channel,
                col(Run.state) != RunState.ACTIVE,
                col(Run.finished_at) > window.since,
                col(Run.finished_at) <= window.until,
            )
            .order_by(col(Run.finished_at).desc(), col(Run.id).desc()),
        )
    ]
    history = await histories(
        session, team_id=team_id, workflow_ids={run.workflow_id for run in active}
    )
    found = await bottlenecks(session, team_id=team_id, now=now, channel_id=channel_id)
    shapes = await _shapes(session, {run.version_id for run in active})
    return DigestData(
        channel_id, now, window, active, steps, done, shapes, finished, history, found
    )


async def _shapes(session: AsyncSession, version_ids: set[int]) -> dict[int, Shape]:
    """The plan of each version in play: a channel's thousand runs share a handful."""
    if not version_ids:
        return {}
    rows = await _rows(
        session,
        select_columns(
            col(WorkflowStep.version_id),
            col(WorkflowStep.step_key),
            col(WorkflowStep.after),
            col(WorkflowStep.kind),
            col(WorkflowStep.due_seconds),
            col(WorkflowStep.wait_seconds),
        )
        .where(col(WorkflowStep.version_id).in_(sorted(version_ids)))
        .order_by(col(WorkflowStep.version_id), col(WorkflowStep.position)),
    )
    steps: dict[int, list[PlanStep]] = defaultdict(list)
    for version_id, key, after, kind, due, wait in rows:
        steps[version_id].append(PlanStep(key, tuple(after), planned(kind, due, wait)))
    return {version_id: Shape.of(plan) for version_id, plan in steps.items()}
