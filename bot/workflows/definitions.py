"""Workflow use cases: define (new version), show, list, archive, export."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select

from bot.commands import suggest
from bot.core.errors import Conflict, NameTaken, NotFound
from bot.language import Assignee, DefinitionError, Problem, WorkflowDef, validate
from bot.people.permissions import Actor, require_editor
from bot.runs.engine import tell_person
from bot.runtime import Runtime
from bot.slack.text import plural
from bot.timing.schedules import pause_workflow_schedules, resume_workflow_schedules
from bot.work import begin
from bot.workflows.store import (
    add_steps,
    add_version,
    archived_message,
    find_version,
    find_workflow,
    load_definition,
)
from storage.db import unit_of_work
from storage.models import Integration, Workflow, WorkflowVersion
from storage.upserts import insert_for
from storage.vocabulary import AssigneeKind


@dataclass(frozen=True, slots=True)
class Defined:
    workflow: Workflow
    version: int
    created: bool
    definition: WorkflowDef


def _is_mention(assignee: Assignee | None) -> bool:
    return assignee is not None and assignee.kind == AssigneeKind.MENTION


async def resolve_mentions(runtime: Runtime, team_id: str, defn: WorkflowDef) -> WorkflowDef:
    """Plain @names (typed in a modal, where Slack links nothing) become users or groups: the
    steps' assignees, and the people in `editors` and `runners`."""
    access = (*(defn.editors or ()), *(defn.runners or ()))
    if not any(_is_mention(a) for a in (*(s.assignee for s in defn.steps), *access)):
        return defn

    async def resolve(assignee: Assignee) -> Assignee:
        if assignee.kind != AssigneeKind.MENTION:
            return assignee
        found = await runtime.directory.find_name(team_id, assignee.value)
        if found is None:
            return assignee
        kind, found_id = found
        return Assignee(kind, found_id, assignee.value)

    async def resolve_all(people: tuple[Assignee, ...] | None) -> tuple[Assignee, ...] | None:
        return None if people is None else tuple([await resolve(a) for a in people])

    steps = []
    for step in defn.steps:
        if step.assignee is not None and _is_mention(step.assignee):
            step = replace(step, assignee=await resolve(step.assignee))
        steps.append(step)
    return replace(
        defn,
        steps=tuple(steps),
        editors=await resolve_all(defn.editors),
        runners=await resolve_all(defn.runners),
    )


def _unresolved_mentions(defn: WorkflowDef) -> list[Problem]:
    return [
        Problem(
            f"@{step.assignee.value} is not a person or user group in this workspace",
            line=step.line,
            step=step.id,
            hint="Pick them from Slack's @ menu so the name becomes a mention, or write {param}",
        )
        for step in defn.steps
        if step.assignee is not None and step.assignee.kind == AssigneeKind.MENTION
    ]


def _access_problems(defn: WorkflowDef) -> list[Problem]:
    """`editors` and `runners` once resolved: everyone known, and editors people only."""
    problems = []
    for key, people in (("editors", defn.editors), ("runners", defn.runners)):
        for person in people or ():
            if person.kind == AssigneeKind.MENTION:
                problems.append(
                    Problem(
                        f"{key}: @{person.value} is not a person or user group in this workspace",
                        hint="Write their Slack handle as @name, or their id (U0123ABCD)",
                    )
                )
            elif key == "editors" and person.kind == AssigneeKind.GROUP:
                problems.append(
                    Problem(
                        f"editors: @{person.label or person.value} is a user group; editors "
                        "are people",
                        hint="Name each person (a group may be given in runners, who may "
                        "start runs)",
                    )
                )
    return problems


def _access_ids(people: tuple[Assignee, ...]) -> list[str]:
    """The Slack ids of resolved people and groups, each once, in the order given."""
    return list(dict.fromkeys(person.value for person in people))


async def define(
    runtime: Runtime,
    actor: Actor,
    defn: WorkflowDef,
    *,
    tell_author: bool = False,
    only_new: bool = False,
) -> Defined:
    """Create the workflow, or add a version to one the actor may edit. `tell_author` DMs the
    author a confirmation (modals have no other place to say it). `only_new` (the builder's
    "New workflow") refuses, changing nothing, when the name exists by the time it saves."""
    defn = await resolve_mentions(runtime, actor.team_id, defn)
    async with begin(runtime) as work:
        now = work.now
        integrations = (
            await work.session.exec(
                select(Integration.name).where(Integration.team_id == actor.team_id)
            )
        ).all()
        problems = [
            *_unresolved_mentions(defn),
            *_access_problems(defn),
            *validate(defn, integrations=set(integrations)),
        ]
        if problems:
            raise DefinitionError(problems)

        workflow = await find_workflow(
            work.session, team_id=actor.team_id, name=defn.name, archived=True
        )
        created = workflow is None or workflow.archived_at is not None
        if only_new and not created:
            raise _name_taken(defn.name)
        if workflow is None:
            # Insert-or-ignore: whoever defines the name first owns it; a second definer at
            # the same moment is then checked as an editor like anyone else.
            inserted = await work.session.exec(
                insert_for(work.session, Workflow)
                .values(
                    team_id=actor.team_id,
                    name=defn.name,
                    owner_id=actor.user_id,
                    editors=[],
                    runners=[],
                    created_at=now,
                    updated_at=now,
                )
                .on_conflict_do_nothing(index_elements=["team_id", "name"])
                .returning(col(Workflow.id))
            )
            mine = inserted.first() is not None
            workflow = await find_workflow(
                work.session, team_id=actor.team_id, name=defn.name, archived=True
            )
            assert workflow is not None
            if not mine and only_new:
                raise _name_taken(defn.name)
            if not mine:
                require_editor(actor, workflow)
        else:
            require_editor(actor, workflow)
        number = workflow.latest_version + 1
        # Who may edit and run it changes only when the definition says (YAML's `editors:`,
        # `runners:`); saving needs edit rights, so only the owner, editors and admins can.
        access: dict[str, Any] = {}
        if defn.editors is not None:
            access["editors"] = _access_ids(defn.editors)
        if defn.runners is not None:
            access["runners"] = _access_ids(defn.runners)
        # Compare-and-set on the version number: two editors saving at once cannot both win.
        result = await work.session.exec(
            update(Workflow)
            .where(col(Workflow.id) == workflow.id, col(Workflow.latest_version) == number - 1)
            .values(latest_version=number, archived_at=None, updated_at=now, **access)
        )
        if result.rowcount != 1:
            raise Conflict(f"`{defn.name}` was changed by someone else just now; try again.")
        if workflow.archived_at is not None:  # defining it again brings it back, schedules too
            assert workflow.id is not None
            await resume_workflow_schedules(work.session, workflow.id, now)
        version = add_version(
            work.session,
            workflow=workflow,
            number=number,
            defn=defn,
            created_by=actor.user_id,
            now=now,
        )
        await work.session.flush()
        add_steps(work.session, version=version, defn=defn)
        work.audit(
            team_id=actor.team_id,
            actor_id=actor.user_id,
            action="workflow.defined",
            workflow=defn.name,
            version=number,
            **access,
        )
        if tell_author:
            verb = "Created" if created else f"Saved version {number} of"
            tell_person(
                work,
                team_id=actor.team_id,
                user_id=actor.user_id,
                text=f"{verb} `{defn.name}` ({plural(len(defn.steps), 'step')}). "
                f"`/baton show {defn.name}` shows its plan.",
            )
        await work.session.refresh(workflow)
    return Defined(workflow, number, created, defn)


def _name_taken(name: str) -> NameTaken:
    return NameTaken(
        f"Someone created a workflow named {name} while this form was open, so nothing was "
        f"saved. Cancel, and change theirs with /baton edit {name}, or start again with "
        "/baton new and another name."
    )


async def get_definition(runtime: Runtime, team_id: str, name: str) -> tuple[Workflow, WorkflowDef]:
    async with unit_of_work(runtime.sessions) as session:
        workflow = await find_workflow(session, team_id=team_id, name=name)
        if workflow is None:
            archived = await archived_message(session, team_id=team_id, name=name)
            raise NotFound(archived or await _not_found_message(runtime, team_id, name))
        version = await find_version(session, workflow=workflow)
        assert version is not None
        return workflow, await load_definition(session, workflow=workflow, version=version)


async def current_definition(runtime: Runtime, team_id: str, name: str) -> WorkflowDef | None:
    """The live definition of `name`, or None when there is none (or it is archived)."""
    try:
        return (await get_definition(runtime, team_id, name))[1]
    except NotFound:
        return None


async def _not_found_message(runtime: Runtime, team_id: str, name: str) -> str:
    names = [workflow.name for workflow, _ in await list_workflows(runtime, team_id)]
    nearest = suggest(name, names)
    hint = f" Did you mean `{nearest}`?" if nearest else ""
    known = f" Workflows here: {', '.join(names[:20])}." if names else " There are none yet."
    return f"There is no workflow named `{name}`.{hint}{known}"


async def list_workflows(runtime: Runtime, team_id: str) -> list[tuple[Workflow, str]]:
    """Active workflows with their current title, by name."""
    async with unit_of_work(runtime.sessions) as session:
        rows = (
            await session.exec(
                select(Workflow, WorkflowVersion.title)
                .join(
                    WorkflowVersion,
                    (col(WorkflowVersion.workflow_id) == col(Workflow.id))
                    & (col(WorkflowVersion.number) == col(Workflow.latest_version)),
                )
                .where(Workflow.team_id == team_id, col(Workflow.archived_at).is_(None))
                .order_by(col(Workflow.name))
            )
        ).all()
    return [(workflow, title) for workflow, title in rows]


@dataclass(frozen=True, slots=True)
class Archived:
    workflow: Workflow
    schedules: int  # how many were paused (archive) or resumed (restore)


async def archive(runtime: Runtime, actor: Actor, name: str) -> Archived:
    """Archive a workflow: running runs go on, its schedules pause, its owner is told."""
    async with begin(runtime) as work:
        workflow = await find_workflow(work.session, team_id=actor.team_id, name=name)
        if workflow is None:
            archived = await archived_message(work.session, team_id=actor.team_id, name=name)
            raise NotFound(archived or f"There is no workflow named `{name}`.")
        require_editor(actor, workflow)
        assert workflow.id is not None
        workflow.archived_at = work.now
        work.session.add(workflow)
        paused = await pause_workflow_schedules(work.session, workflow.id)
        work.audit(
            team_id=actor.team_id,
            actor_id=actor.user_id,
            action="workflow.archived",
            workflow=name,
        )
        if actor.user_id != workflow.owner_id:
            tell_person(
                work,
                team_id=actor.team_id,
                user_id=workflow.owner_id,
                text=f"<@{actor.user_id}> archived your workflow `{name}`. Runs already going "
                f"carry on; no new runs start{_schedules_note(paused, 'paused')}. "
                f"`/baton restore {name}` brings it back.",
            )
    return Archived(workflow, paused)


async def restore(runtime: Runtime, actor: Actor, name: str) -> Archived:
    """Bring an archived workflow back as it was; its paused schedules resume."""
    async with begin(runtime) as work:
        workflow = await find_workflow(
            work.session, team_id=actor.team_id, name=name, archived=True
        )
        if workflow is None:
            raise NotFound(await _not_found_message(runtime, actor.team_id, name))
        if workflow.archived_at is None:
            raise Conflict(f"`{name}` is not archived: `/baton show {name}` shows it.")
        require_editor(actor, workflow)
        assert workflow.id is not None
        workflow.archived_at = None
        workflow.updated_at = work.now
        work.session.add(workflow)
        resumed = await resume_workflow_schedules(work.session, workflow.id, work.now)
        work.audit(
            team_id=actor.team_id,
            actor_id=actor.user_id,
            action="workflow.restored",
            workflow=name,
        )
    return Archived(workflow, resumed)


def _schedules_note(count: int, done: str) -> str:
    return (
        f"; its {plural(count, 'schedule')} {'is' if count == 1 else 'are'} {done}" if count else ""
    )
