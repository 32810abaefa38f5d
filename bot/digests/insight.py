"""What the numbers say about runs: projected finishes and critical paths, runs at risk of
missing their deadline, bottleneck steps and open steps per person.

A projection is the remaining critical path of a run (`bot.language.Dependencies`' longest
chain, its dependencies worked out once per workflow version) with
each step's expected duration: its `due` (`wait` for a wait step, else nothing) until the
workflow has HISTORY_MIN_RUNS completed runs, then the median time the step took in those runs
(ready -> done). A step already open counts only what is left of its expected time.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.holders import holders
from bot.core.states import OPEN_STATES, PEOPLE_KINDS
from bot.language import Dependencies, StepDef, WorkflowDef, make_plan, step_duration
from storage.models import Run, StepRun, Workflow
from storage.vocabulary import AssigneeKind, RunState, StepKind, StepState

HISTORY_MIN_RUNS = 3
# The estimate follows the team's recent pace, and its query stays bounded.
HISTORY_RUNS = 50
BOTTLENECK_WINDOW = timedelta(days=30)
# One slow run is an anecdote, not a bottleneck.
BOTTLENECK_MIN_SAMPLES = 2
# Nor is a step usually done within a minute of being ready: listing it ("median under a
# minute") would only crowd out the steps a team lead should look at.
BOTTLENECK_MIN_WAIT = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class StepRow:
    """The columns of a step run that insight and the digest read (its place in the plan is
    its version's: see Shape)."""

    run_id: int
    key: str
    title: str
    kind: StepKind
    state: StepState
    assignee_kind: AssigneeKind | None
    assignee_id: str | None
    claimed_by: str | None
    ready_at: datetime | None
    due_at: datetime | None
    blocked_reason: str | None
    outcome_note: str | None
    hook: str | None

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    def overdue(self, now: datetime) -> bool:
        return self.is_open and self.due_at is not None and self.due_at <= now


STEP_COLUMNS = (
    col(StepRun.run_id),
    col(StepRun.step_key),
    col(StepRun.title),
    col(StepRun.kind),
    col(StepRun.state),
    col(StepRun.assignee_kind),
    col(StepRun.assignee_id),
    col(StepRun.claimed_by),
    col(StepRun.ready_at),
    col(StepRun.due_at),
    col(StepRun.blocked_reason),
    col(StepRun.outcome_note),
    col(StepRun.hook),
)


def from_step_run(step: StepRun) -> StepRow:
    return StepRow(
        step.run_id,
        step.step_key,
        step.title,
        step.kind,
        step.state,
        step.assignee_kind,
        step.assignee_id,
        step.claimed_by,
        step.ready_at,
        step.due_at,
        step.blocked_reason,
        step.outcome_note,
        step.hook,
    )


@dataclass(frozen=True, slots=True)
class PlanStep:
    key: str
    after: tuple[str, ...]
    planned: timedelta
    """The plan's duration of the step: `wait` for a wait step, else `due`, else zero."""


def planned(kind: str, due_seconds: int | None, wait_seconds: int | None) -> timedelta:
    return timedelta(seconds=(wait_seconds if kind == StepKind.WAIT else due_seconds) or 0)


@dataclass(frozen=True, slots=True)
class Shape:
    """A workflow version's steps and their dependencies (`bot.language.Dependencies`), made
    once per version and shared by all its runs."""

    steps: Mapping[str, PlanStep]
    dependencies: Dependencies

    @classmethod
    def of(cls, steps: Sequence[PlanStep]) -> Shape:
        defn = WorkflowDef(
            name="shape",
            title="",
            steps=tuple(StepDef(id=step.key, title=step.key, after=step.after) for step in steps),
        )
        return cls(steps={step.key: step for step in steps}, dependencies=Dependencies.of(defn))

    @classmethod
    def of_definition(cls, defn: WorkflowDef) -> Shape:
        return cls.of([PlanStep(s.id, s.after, step_duration(s)) for s in defn.steps])

    @classmethod
    def of_step_runs(cls, steps: Sequence[StepRun]) -> Shape:
        return cls.of(
            [
                PlanStep(s.step_key, tuple(s.after), planned(s.kind, s.due_seconds, s.wait_seconds))
                for s in steps
            ]
        )

    def longest_chain(
        self, durations: Mapping[str, timedelta], done: Collection[str]
    ) -> tuple[tuple[str, ...], timedelta]:
        """The plan's critical path among the steps not done, under these durations."""
        return self.dependencies.longest_chain(durations, done)


# -- history ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class History:
    """A workflow's completed runs: how many, and the median duration of each step."""

    runs: int = 0
    medians: Mapping[str, timedelta] = field(default_factory=dict)

    @property
    def usable(self) -> bool:
        return self.runs >= HISTORY_MIN_RUNS


def median(spans: Iterable[timedelta]) -> timedelta:
    return timedelta(seconds=statistics.median(span.total_seconds() for span in spans))


async def histories(
    session: AsyncSession, *, team_id: str, workflow_ids: Iterable[int]
) -> dict[int, History]:
    """The history of each workflow: its last HISTORY_RUNS completed runs."""
    wanted = sorted(set(workflow_ids))
    if not wanted:
        return {}
    finished = (
        await session.exec(
            select(col(Run.id), col(Run.workflow_id))
            .where(
                col(Run.team_id) == team_id,
                col(Run.state) == RunState.COMPLETED,
                col(Run.workflow_id).in_(wanted),
            )
            .order_by(col(Run.workflow_id), col(Run.finished_at).desc(), col(Run.id).desc())
        )
    ).all()
    recent: dict[int, list[int]] = defaultdict(list)
    for run_id, workflow_id in finished:
        if run_id is not None and len(recent[workflow_id]) < HISTORY_RUNS:
            recent[workflow_id].append(run_id)
    workflow_of = {run_id: wf for wf, ids in recent.items() for run_id in ids}
    samples: dict[int, dict[str, list[timedelta]]] = defaultdict(lambda: defaultdict(list))
    if workflow_of:
        rows = (
            await session.exec(
                select(
                    col(StepRun.run_id),
                    col(StepRun.step_key),
                    col(StepRun.ready_at),
                    col(StepRun.finished_at),
                ).where(
                    col(StepRun.run_id).in_(list(workflow_of)),
                    col(StepRun.state) == StepState.DONE,
                    col(StepRun.ready_at).is_not(None),
                    col(StepRun.finished_at).is_not(None),
                )
            )
        ).all()
        for run_id, key, ready_at, finished_at in rows:
            if ready_at is not None and finished_at is not None:
                samples[workflow_of[run_id]][key].append(finished_at - ready_at)
    return {
        wf: History(
            runs=len(recent.get(wf, [])),
            medians={key: median(spans) for key, spans in samples[wf].items()},
        )
        for wf in wanted
    }


# -- projection -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Projection:
    finish: datetime
    critical_path: tuple[str, ...]
    """The remaining steps whose durations add up to the finish."""
    basis: int
    """How many completed runs the durations come from; 0 means the plan's due times."""

    def late_by(self, deadline: datetime | None, now: datetime) -> timedelta | None:
        """How far past the deadline the run is projected to finish (None: on time)."""
        if deadline is None:
            return None
        finish = max(self.finish, now)
        return finish - deadline if finish > deadline else None


def _expected(step: PlanStep, history: History | None) -> timedelta:
    if history is not None and history.usable:
        return history.medians.get(step.key, step.planned)
    return step.planned


def project(
    shape: Shape,
    done: Collection[str],
    steps: Iterable[StepRow],
    now: datetime,
    history: History | None,
) -> Projection:
    """When a run is likely to finish, and the chain of steps that decides it. `done` are the
    run's done and skipped steps; an open step among `steps` counts only what is left of its
    expected time; every other step counts its whole expected time."""
    durations = {key: _expected(plan, history) for key, plan in shape.steps.items()}
    for step in steps:
        if step.is_open and step.ready_at is not None and step.key in durations:
            left = durations[step.key] - (now - step.ready_at)
            durations[step.key] = max(timedelta(0), left)
    path, total = shape.longest_chain(durations, done)
    basis = history.runs if history is not None and history.usable else 0
    return Projection(now + total, path, basis)


@dataclass(frozen=True, slots=True)
class WorkflowForecast:
    """How long a fresh run of a workflow takes: by the plan, and by its history."""

    plan_path: tuple[str, ...]
    plan_duration: timedelta
    history: History
    history_path: tuple[str, ...] = ()
    history_duration: timedelta | None = None


def forecast_workflow(defn: WorkflowDef, history: History) -> WorkflowForecast:
    plan = make_plan(defn)
    if not history.usable:
        return WorkflowForecast(plan.critical_path, plan.critical_duration, history)
    shape = Shape.of_definition(defn)
    durations = {key: _expected(step, history) for key, step in shape.steps.items()}
    path, total = shape.longest_chain(durations, ())
    return WorkflowForecast(plan.critical_path, plan.critical_duration, history, path, total)


# -- bottlenecks and load ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bottleneck:
    workflow: str
    step_key: str
    median_wait: timedelta
    samples: int


async def bottlenecks(
    session: AsyncSession,
    *,
    team_id: str,
    now: datetime,
    channel_id: str | None = None,
    limit: int = 5,
) -> list[Bottleneck]:
    """Steps with the longest median wait (ready -> done) among steps finished in the last
    30 days (in this channel's runs, given a channel). Wait steps wait by design, and steps
    whose median wait is under a minute hold nobody up: both left out."""
    query = (
        select(
            col(Workflow.name),
            col(StepRun.step_key),
            col(StepRun.ready_at),
            col(StepRun.finished_at),
        )
        .join(Run, col(Run.id) == col(StepRun.run_id))
        .join(Workflow, col(Workflow.id) == col(Run.workflow_id))
        .where(
            col(StepRun.team_id) == team_id,
            col(StepRun.state) == StepState.DONE,
            col(StepRun.kind) != StepKind.WAIT,
            col(StepRun.finished_at) > now - BOTTLENECK_WINDOW,
            col(StepRun.finished_at) <= now,
            col(StepRun.ready_at).is_not(None),
        )
    )
    if channel_id is not None:
        query = query.where(col(Run.channel_id) == channel_id)
    waits: dict[tuple[str, str], list[timedelta]] = defaultdict(list)
    for workflow, key, ready_at, finished_at in (await session.exec(query)).all():
        if ready_at is not None and finished_at is not None:
            waits[(workflow, key)].append(finished_at - ready_at)
    found = [
        Bottleneck(workflow, key, median(spans), len(spans))
        for (workflow, key), spans in waits.items()
        if len(spans) >= BOTTLENECK_MIN_SAMPLES and median(spans) >= BOTTLENECK_MIN_WAIT
    ]
    found.sort(key=lambda b: (-b.median_wait, -b.samples, b.workflow, b.step_key))
    return found[:limit]


@dataclass(slots=True)
class Load:
    """One person's (or an unclaimed group's) open steps."""

    who: str
    is_group: bool
    open: int = 0
    overdue: int = 0
    blocked: int = 0


def open_per_person(steps: Iterable[StepRow], now: datetime) -> list[Load]:
    """Open task and approval steps by who has them, the busiest first."""
    loads: dict[str, Load] = {}
    for step in steps:
        held = holders(step)
        if not step.is_open or step.kind not in PEOPLE_KINDS or held.id is None:
            continue
        load = loads.get(held.id)
        if load is None:
            load = loads[held.id] = Load(held.id, held.group is not None)
        load.open += 1
        load.overdue += step.overdue(now)
        load.blocked += step.state == StepState.BLOCKED
    return sorted(loads.values(), key=lambda load: (-load.open, -load.overdue, load.who))
