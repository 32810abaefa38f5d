"""What one person has on their plate: open steps, runs they own, what is overdue."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_
from sqlmodel import col, select

from bot.core.states import OPEN_STATES
from bot.runtime import Runtime
from storage.db import unit_of_work
from storage.models import Run, StepRun
from storage.vocabulary import AssigneeKind, RunState


@dataclass(frozen=True, slots=True)
class Plate:
    steps: list[tuple[Run, StepRun]]  # my open steps (and unclaimed steps of my groups)
    runs: list[Run]  # active runs I own
    overdue: list[tuple[Run, StepRun]]  # open steps past due, mine or in my runs


async def plate(runtime: Runtime, team_id: str, user_id: str) -> Plate:
    now = runtime.clock.now()
    open_states = [state.value for state in OPEN_STATES]
    async with unit_of_work(runtime.sessions) as session:
        runs = list(
            (
                await session.exec(
                    select(Run)
                    .where(
                        Run.team_id == team_id,
                        Run.owner_id == user_id,
                        Run.state == RunState.ACTIVE,
                    )
                    .order_by(col(Run.id))
                )
            ).all()
        )
        rows = (
            await session.exec(
                select(Run, StepRun)
                .join(StepRun, col(StepRun.run_id) == col(Run.id))
                .where(
                    StepRun.team_id == team_id,
                    col(StepRun.state).in_(open_states),
                    Run.state == RunState.ACTIVE,
                    or_(
                        col(StepRun.assignee_id) == user_id,
                        col(StepRun.claimed_by) == user_id,
                        col(Run.owner_id) == user_id,
                        col(StepRun.assignee_kind) == AssigneeKind.GROUP,
                    ),
                )
                .order_by(col(StepRun.due_at), col(StepRun.id))
            )
        ).all()
    groups = {step.assignee_id for _, step in rows if step.assignee_kind == AssigneeKind.GROUP}
    mine_groups = {
        group
        for group in groups
        if group and user_id in await runtime.directory.group_members(team_id, group)
    }
    steps: list[tuple[Run, StepRun]] = []
    overdue: list[tuple[Run, StepRun]] = []
    for run, step in rows:
        is_mine = step.claimed_by == user_id or (
            step.claimed_by is None
            and (step.assignee_id == user_id or step.assignee_id in mine_groups)
        )
        if is_mine:
            steps.append((run, step))
        if step.due_at is not None and step.due_at < now and (is_mine or run.owner_id == user_id):
            overdue.append((run, step))
    return Plate(steps, runs, overdue)
