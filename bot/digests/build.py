"""The digest of one channel: what a team lead reads every morning.

`gather` reads what the digest needs in a few set-wise queries (column tuples, not ORM
objects: a channel may have a thousand active runs); `compose` turns it into prose from the
`digest.j2` template, laid out by `bot.render.blocks` inside Block Kit's limits. Only the
lines that are shown are rendered and only the runs that need a projection get one, so the
cost of a big channel is the cost of reading its rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Executable
from sqlalchemy import select as select_columns
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.states import OPEN_STATES, SATISFIED_STATES, RunState, StepState
from bot.digests.insight import (
    STEP_COLUMNS,
    Bottleneck,
    History,
    Load,
    PlanStep,
    Projection,
    Shape,
    StepRow,
    bottlenecks,
    histories,
    open_per_person,
    planned,
    project,
)
from bot.digests.subscriptions import Window
from bot.render import blocks as kit
from bot.render.runs import STATE_ICONS, progress_bar
from bot.runtime import Runtime
from bot.slack.text import escape, group_mention, mention
from bot.templates.engine import Macros, Mrkdwn
from storage.db import unit_of_work
from storage.models import Run, StepRun, WorkflowStep

TEMPLATE = "digest.j2"
NEEDS_PEOPLE = sorted({*OPEN_STATES, StepState.FAILED})
# Lines shown per part of the digest, and the sections each part may take: together well
# inside a message's 50 blocks, and short enough to read over coffee.
LIMITS = {
    "attention": (25, 6),
    "at_risk": (10, 3),
    "active": (25, 6),
    "finished": (15, 3),
    "bottlenecks": (5, 1),
    "people": (15, 2),
}


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


# -- what templates see -------------------------------------------------------------------------
# Strings marked Mrkdwn are ready Slack text (titles were escaped when stored); anything else a
# user typed (reasons) is escaped by the template environment on output.


@dataclass(frozen=True, slots=True)
class RunView:
    key: str
    title: Mrkdwn
    owner: Mrkdwn
    bar: str
    done: int
    total: int
    created_at: datetime
    deadline: datetime | None
    eta: datetime | None
    basis: int
    open_steps: tuple[StepView, ...]


@dataclass(frozen=True, slots=True)
class StepView:
    key: str
    title: Mrkdwn
    who: Mrkdwn
    state: str
    icon: str
    ready_at: datetime | None
    due_at: datetime | None
    overdue_by: timedelta | None
    blocked: bool
    reason: str | None
    run_key: str
    run_title: Mrkdwn


@dataclass(frozen=True, slots=True)
class RiskView:
    run: RunView
    finish: datetime
    deadline: datetime
    late_by: timedelta
    basis: int


@dataclass(frozen=True, slots=True)
class FinishedView:
    key: str
    title: Mrkdwn
    state: str
    took: timedelta
    finished_at: datetime
    reason: str | None


@dataclass(frozen=True, slots=True)
class LoadView:
    who: Mrkdwn
    open: int
    overdue: int
    blocked: int


@dataclass(frozen=True, slots=True)
class Summary:
    channel: Mrkdwn
    now: datetime
    since: datetime
    active: int
    attention: int
    at_risk: int
    finished: int


def _who(step: StepRow) -> Mrkdwn:
    if step.kind == "hook":
        return Mrkdwn(f"hook `{escape(step.hook or '?')}`")
    if step.kind == "wait":
        return Mrkdwn("a timer")
    if step.assignee_kind == "group" and step.assignee_id and not step.claimed_by:
        return Mrkdwn(group_mention(step.assignee_id))
    return Mrkdwn(mention(step.owner))


class _Digest:
    """One digest being composed: projections made once, and only for the runs that need one."""

    def __init__(self, data: DigestData) -> None:
        self.data = data
        self.now = data.now
        self._projections: dict[int, Projection] = {}
        self.runs = {run.id: run for run in data.active}

    def projection(self, run: RunRow) -> Projection:
        found = self._projections.get(run.id)
        if found is None:
            found = project(
                self.data.shapes[run.version_id],
                self.data.done.get(run.id, set()),
                self.data.steps.get(run.id, []),
                self.now,
                self.data.histories.get(run.workflow_id),
            )
            self._projections[run.id] = found
        return found

    def step_view(self, step: StepRow) -> StepView:
        run = self.runs[step.run_id]
        overdue = (
            self.now - step.due_at if step.due_at is not None and step.overdue(self.now) else None
        )
        reason = step.blocked_reason if step.state == StepState.BLOCKED else step.outcome_note
        return StepView(
            key=step.key,
            title=Mrkdwn(step.title),
            who=_who(step),
            state=step.state,
            icon=STATE_ICONS[StepState(step.state)],
            ready_at=step.ready_at,
            due_at=step.due_at,
            overdue_by=overdue,
            blocked=step.state == StepState.BLOCKED,
            reason=reason,
            run_key=run.key,
            run_title=Mrkdwn(run.title),
        )

    def run_view(self, run: RunRow) -> RunView:
        steps = self.data.steps.get(run.id, [])
        done = len(self.data.done.get(run.id, ()))
        total = len(self.data.shapes[run.version_id].steps)
        projection = self.projection(run)
        return RunView(
            key=run.key,
            title=Mrkdwn(run.title),
            owner=Mrkdwn(mention(run.owner_id)),
            bar=progress_bar(done, total),
            done=done,
            total=total,
            created_at=run.created_at,
            deadline=run.deadline,
            eta=projection.finish if projection.finish > self.now else None,
            basis=projection.basis,
            open_steps=tuple(self.step_view(s) for s in steps if s.is_open),
        )

    def attention(self) -> list[StepRow]:
        """Blocked, overdue and failed steps: blocked first, then the longest overdue."""
        found = [
            step
            for steps in self.data.steps.values()
            for step in steps
            if step.state in (StepState.BLOCKED, StepState.FAILED) or step.overdue(self.now)
        ]
        order = {StepState.BLOCKED: 0, StepState.FAILED: 2}

        def rank(step: StepRow) -> tuple[int, datetime]:
            moment = step.due_at or step.ready_at or self.now
            return order.get(StepState(step.state), 1), moment

        return sorted(found, key=rank)

    def at_risk(self) -> list[tuple[timedelta, RunRow]]:
        """Runs projected to finish after their deadline, the latest first."""
        risks = []
        for run in self.data.active:
            if run.deadline is not None:
                late = self.projection(run).late_by(run.deadline, self.now)
                if late is not None:
                    risks.append((late, run))
        risks.sort(key=lambda risk: (-risk[0], risk[1].created_at))
        return risks

    def risk_view(self, risk: tuple[timedelta, RunRow]) -> RiskView:
        late, run = risk
        projection = self.projection(run)
        assert run.deadline is not None
        return RiskView(
            self.run_view(run),
            max(projection.finish, self.now),
            run.deadline,
            late,
            projection.basis,
        )

    def finished(self) -> list[FinishedView]:
        return [
            FinishedView(
                key=run.key,
                title=Mrkdwn(run.title),
                state=run.state,
                took=(run.finished_at or self.now) - run.created_at,
                finished_at=run.finished_at or self.now,
                reason=run.reason,
            )
            for run in self.data.finished
        ]

    def people(self) -> list[LoadView]:
        loads: list[Load] = open_per_person(
            (step for steps in self.data.steps.values() for step in steps), self.now
        )
        return [
            LoadView(
                Mrkdwn(group_mention(load.who) if load.is_group else mention(load.who)),
                load.open,
                load.overdue,
                load.blocked,
            )
            for load in loads
        ]


def _lazy(items: Sequence[Any], make: Callable[[Any], Any]) -> Iterator[Any]:
    return (make(item) for item in items)


def compose(data: DigestData, macros: Macros) -> tuple[str, list[dict[str, Any]]]:
    """The digest as (notification text, blocks)."""
    digest = _Digest(data)
    attention = digest.attention()
    risks = digest.at_risk()
    finished = digest.finished()
    summary = Summary(
        channel=Mrkdwn(f"<#{data.channel_id}>"),
        now=data.now,
        since=data.window.since,
        active=len(data.active),
        attention=len(attention),
        at_risk=len(risks),
        finished=len(finished),
    )
    text = kit.fallback(macros("fallback", summary), "Status digest")
    if data.quiet:
        return text, [kit.section(macros("quiet", summary))]

    def more(part: str) -> Callable[[int], str]:
        return lambda n: macros("more", part, n, summary)

    def part(name: str, items: Sequence[Any], make: Callable[[Any], Any], line: str) -> None:
        if not items:
            return
        max_lines, max_blocks = LIMITS[name]
        if len(blocks) > 2:
            blocks.append(kit.divider())
        blocks.extend(
            kit.listing(
                _lazy(items, make),
                len(items),
                lambda view: macros(line, view),
                more(name),
                max_lines=max_lines,
                max_blocks=max_blocks,
                heading=macros("heading", name, len(items)),
            )
        )

    blocks: list[kit.Block] = [
        kit.header(macros("header", summary)),
        kit.context(macros("summary", summary)),
    ]
    part("attention", attention, digest.step_view, "attention_line")
    part("at_risk", risks, digest.risk_view, "risk_line")
    part("active", data.active, digest.run_view, "run_line")
    part("finished", finished, lambda view: view, "finished_line")
    part("bottlenecks", data.bottlenecks, lambda found: found, "bottleneck_line")
    part("people", digest.people(), lambda view: view, "person_line")
    blocks.append(kit.context(macros("footer", summary)))
    return text, kit.checked(blocks)


@dataclass(frozen=True, slots=True)
class BuiltDigest:
    text: str
    blocks: list[dict[str, Any]]
    quiet: bool  # it only says "all quiet"


async def build_digest(
    runtime: Runtime, *, team_id: str, channel_id: str, window: Window
) -> BuiltDigest:
    """The digest for a channel as it stands now (business time)."""
    now = runtime.clock.now()
    async with unit_of_work(runtime.sessions) as session:
        data = await gather(session, team_id=team_id, channel_id=channel_id, now=now, window=window)
    text, blocks = compose(data, runtime.templates.macros(TEMPLATE))
    return BuiltDigest(text, blocks, data.quiet)
