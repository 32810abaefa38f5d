"""Who may edit and who may run a workflow, changed by `/baton editors` and `/baton runners`.

The lists live on the workflow row, not in a version: changing them makes no new version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.commands import usage_error
from bot.core.errors import NotFound
from bot.language import Assignee
from bot.people.permissions import Actor, require_editor
from bot.runtime import Runtime
from bot.work import begin
from bot.workflows.store import archived_message, find_workflow
from storage.models import Workflow
from storage.vocabulary import AssigneeKind

AccessList = Literal["editors", "runners"]
Change = Literal["add", "remove", "anyone"]


@dataclass(frozen=True, slots=True)
class AccessChanged:
    workflow: Workflow
    before: list[str]
    after: list[str]


async def resolve_people(
    runtime: Runtime, team_id: str, key: AccessList, people: list[Assignee]
) -> list[str]:
    """Slack ids for the people (and, for runners, groups) named; plain @names are looked up
    in the directory. `key` is also the command changing them: its usage error names each one
    that is not known (a plain @name that is no one here) or not allowed (a group as editor)."""
    ids: list[str] = []
    wrong: list[str] = []
    for person in people:
        kind, value = person.kind, person.value
        if kind == AssigneeKind.MENTION:
            found = await runtime.directory.find_name(team_id, value)
            if found is None:
                wrong.append(f"@{value} is not a person or user group in this workspace")
                continue
            kind, value = found
        if kind == AssigneeKind.GROUP and key == "editors":
            wrong.append(f"@{person.label or person.value} is a user group; editors are people")
            continue
        if kind not in (AssigneeKind.USER, AssigneeKind.GROUP):
            wrong.append(f"{{{person.value}}} is not a person")
            continue
        ids.append(value)
    if wrong:
        raise usage_error(key, f"{'; '.join(wrong)}. Nothing was changed.")
    return list(dict.fromkeys(ids))


async def change_access(
    runtime: Runtime,
    actor: Actor,
    name: str,
    key: AccessList,
    change: Change,
    ids: list[str],
) -> AccessChanged:
    async with begin(runtime) as work:
        workflow = await find_workflow(work.session, team_id=actor.team_id, name=name)
        if workflow is None:
            raise NotFound(
                await archived_message(work.session, team_id=actor.team_id, name=name)
                or f"There is no workflow named `{name}`. `/baton list` shows them."
            )
        require_editor(actor, workflow)
        before = list(getattr(workflow, key))
        if change == "anyone":
            after: list[str] = []
        elif change == "add":
            after = list(dict.fromkeys([*before, *ids]))
        else:
            after = [i for i in before if i not in ids]
        setattr(workflow, key, after)
        workflow.updated_at = work.now
        work.session.add(workflow)
        work.audit(
            team_id=actor.team_id,
            actor_id=actor.user_id,
            action=f"workflow.{key}",
            workflow=name,
            people=after,
        )
        await work.session.flush()
        await work.session.refresh(workflow)
    return AccessChanged(workflow, before, after)
