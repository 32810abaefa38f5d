"""What the digest template sees: a view of each line, made from the rows the digest read.

Strings marked Mrkdwn are ready Slack text (titles were escaped when stored); anything else a
user typed (reasons) is escaped by the template environment on output. Projections are made
once per digest, and only for the runs that need one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.core.holders import holders
from bot.digests.insight import Load, Projection, StepRow, open_per_person, project
from bot.digests.reading import DigestData, RunRow
from bot.render.runs import STATE_ICONS, progress_bar
from bot.slack.text import escape, group_mention, mention
from bot.templates.engine import Mrkdwn
from storage.vocabulary import StepKind, StepState


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
    if step.kind == StepKind.HOOK:
        return Mrkdwn(f"hook `{escape(step.hook or '?')}`")
    if step.kind == StepKind.WAIT:
        return Mrkdwn("a timer")
    held = holders(step)
    if held.group:
        return Mrkdwn(group_mention(held.group))
    return Mrkdwn(mention(held.user))


class DigestViews:
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
            icon=STATE_ICONS[step.state],
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
            return order.get(step.state, 1), moment

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
