"""Workflow definitions to rows and back: a version's steps are rows of `workflow_step`."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.language import Assignee, ParamDef, ParamType, StepDef, WorkflowDef
from storage.models import Workflow, WorkflowStep, WorkflowVersion
from storage.vocabulary import AssigneeKind


async def find_workflow(
    session: AsyncSession, *, team_id: str, name: str, archived: bool = False
) -> Workflow | None:
    query = select(Workflow).where(Workflow.team_id == team_id, Workflow.name == name)
    if not archived:
        query = query.where(col(Workflow.archived_at).is_(None))
    return (await session.exec(query)).first()


async def archived_message(session: AsyncSession, *, team_id: str, name: str) -> str | None:
    """What to say when `name` is an archived workflow (None when it is not one)."""
    found = await find_workflow(session, team_id=team_id, name=name, archived=True)
    if found is None or found.archived_at is None:
        return None
    return (
        f"`{name}` is archived. Its owner (<@{found.owner_id}>), its editors or an admin can "
        f"bring it back with `/baton restore {name}`."
    )


async def find_version(
    session: AsyncSession, *, workflow: Workflow, number: int | None = None
) -> WorkflowVersion | None:
    assert workflow.id is not None
    query = select(WorkflowVersion).where(
        WorkflowVersion.workflow_id == workflow.id,
        WorkflowVersion.number == (number or workflow.latest_version),
    )
    return (await session.exec(query)).first()


async def load_definition(
    session: AsyncSession, *, workflow: Workflow, version: WorkflowVersion
) -> WorkflowDef:
    rows = (
        await session.exec(
            select(WorkflowStep)
            .where(WorkflowStep.version_id == version.id)
            .order_by(col(WorkflowStep.position))
        )
    ).all()
    return WorkflowDef(
        name=workflow.name,
        title=version.title,
        description=version.description,
        channel=version.channel_id,
        params=tuple(
            ParamDef(
                name=str(p["name"]),
                type=ParamType(p.get("type", "text")),
                required=bool(p.get("required", True)),
            )
            for p in version.params
        ),
        steps=tuple(_step_def(row) for row in rows),
        editors=_people(workflow.editors),
        runners=_people(workflow.runners),
    )


def _people(ids: list[str]) -> tuple[Assignee, ...] | None:
    """Stored ids as a definition's list; None for none, so exports leave the key out."""
    return tuple(Assignee(_id_kind(i), i) for i in ids) or None


def _id_kind(slack_id: str) -> AssigneeKind:
    return AssigneeKind.GROUP if slack_id.startswith("S") else AssigneeKind.USER


def _step_def(row: WorkflowStep) -> StepDef:
    assignee = None
    if row.assignee_kind and row.assignee_value:
        assignee = Assignee(row.assignee_kind, row.assignee_value, row.assignee_label)
    return StepDef(
        id=row.step_key,
        title=row.title,
        kind=row.kind,
        assignee=assignee,
        hook=row.hook,
        after=tuple(row.after),
        due=timedelta(seconds=row.due_seconds) if row.due_seconds is not None else None,
        wait=timedelta(seconds=row.wait_seconds) if row.wait_seconds is not None else None,
    )


def add_version(
    session: AsyncSession,
    *,
    workflow: Workflow,
    number: int,
    defn: WorkflowDef,
    created_by: str,
    now: datetime,
) -> WorkflowVersion:
    assert workflow.id is not None
    version = WorkflowVersion(
        team_id=workflow.team_id,
        workflow_id=workflow.id,
        number=number,
        title=defn.title,
        description=defn.description,
        channel_id=defn.channel,
        params=[
            {"name": p.name, "type": p.type.value, "required": p.required} for p in defn.params
        ],
        created_by=created_by,
        created_at=now,
    )
    session.add(version)
    return version


def add_steps(session: AsyncSession, *, version: WorkflowVersion, defn: WorkflowDef) -> None:
    assert version.id is not None
    for position, step in enumerate(defn.steps):
        session.add(
            WorkflowStep(
                team_id=version.team_id,
                version_id=version.id,
                position=position,
                step_key=step.id,
                title=step.title,
                kind=step.kind,
                assignee_kind=step.assignee.kind if step.assignee else None,
                assignee_value=step.assignee.value if step.assignee else None,
                assignee_label=step.assignee.label if step.assignee else None,
                hook=step.hook,
                after=list(step.after),
                due_seconds=int(step.due.total_seconds()) if step.due else None,
                wait_seconds=int(step.wait.total_seconds()) if step.wait else None,
            )
        )
