"""Projected finishes and critical paths for `status` (runs) and `show` (workflows)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.core.states import SATISFIED_STATES
from bot.digests.insight import (
    HISTORY_MIN_RUNS,
    History,
    Projection,
    Shape,
    WorkflowForecast,
    forecast_workflow,
    from_step_run,
    histories,
    project,
)
from bot.language import WorkflowDef, format_duration
from bot.runs.engine import LockedRun
from bot.runtime import Runtime
from bot.slack.text import format_span, when
from storage.db import unit_of_work
from storage.models import Workflow
from storage.vocabulary import RunState


async def forecast_runs(
    runtime: Runtime, team_id: str, items: Sequence[LockedRun]
) -> dict[int, Projection]:
    """The projection of each active run among `items`, by run id."""
    active = [item for item in items if item.run.state == RunState.ACTIVE and item.run.id]
    if not active:
        return {}
    async with unit_of_work(runtime.sessions) as session:
        found = await histories(
            session, team_id=team_id, workflow_ids={item.run.workflow_id for item in active}
        )
    now = runtime.clock.now()
    projections = {}
    for item in active:
        done = {step.step_key for step in item.steps if step.state in SATISFIED_STATES}
        rows = [from_step_run(step) for step in item.steps]
        history = found.get(item.run.workflow_id)
        projection = project(Shape.of_step_runs(item.steps), done, rows, now, history)
        projections[item.run.id or 0] = projection
    return projections


async def forecast_definition(
    runtime: Runtime, team_id: str, workflow: Workflow, defn: WorkflowDef
) -> WorkflowForecast:
    assert workflow.id is not None
    async with unit_of_work(runtime.sessions) as session:
        found = await histories(session, team_id=team_id, workflow_ids=[workflow.id])
    return forecast_workflow(defn, found.get(workflow.id, History()))


def _basis(runs: int) -> str:
    return f"from its last {runs} completed runs" if runs else "from the plan's due times"


def _chain(path: Sequence[str]) -> str:
    return " → ".join(f"`{key}`" for key in path) or "nothing left"


def projection_line(projection: Projection, deadline: datetime | None, now: datetime) -> str:
    """`status <run>`: when it should finish, along which steps, and against its deadline."""
    line = (
        f"🔮 Projected finish {when(projection.finish)} ({_basis(projection.basis)}) · "
        f"critical path: {_chain(projection.critical_path)}"
    )
    if deadline is None:
        return line
    late = projection.late_by(deadline, now)
    if late is None:
        return f"{line} · on track for its deadline {when(deadline)}"
    return f"{line} · ⚠️ {format_span(late)} past its deadline {when(deadline)}"


def eta_suffix(projection: Projection | None, now: datetime) -> str:
    """` · ETA <date>` for a run's line, when there is anything left to wait for."""
    if projection is None or projection.finish <= now:
        return ""
    return f" · ETA {when(projection.finish)}"


def forecast_text(forecast: WorkflowForecast) -> str:
    """`show <workflow>`: how long a run takes by the plan and, once known, by its history."""
    plan = (
        f"By the plan: {format_duration(forecast.plan_duration)} along {_chain(forecast.plan_path)}"
        if forecast.plan_duration
        else "By the plan: no due times or waits to add up"
    )
    runs = forecast.history.runs
    if forecast.history_duration is None:
        left = HISTORY_MIN_RUNS - runs
        return (
            f"{plan}.\nAfter {left} more completed run{'s' if left != 1 else ''}, forecasts "
            "follow how long its steps really take."
        )
    return (
        f"{plan}.\nFrom its last {runs} completed runs: "
        f"{format_duration(forecast.history_duration)} along {_chain(forecast.history_path)}."
    )
