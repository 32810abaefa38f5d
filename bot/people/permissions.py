"""Who may do what (SPEC section 8). Checked in the services, never only in the UI."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from bot.core.errors import Forbidden
from bot.core.holders import holders
from bot.runtime import Runtime
from storage.models import Run, StepRun, Workflow


@dataclass(frozen=True, slots=True)
class Actor:
    team_id: str
    user_id: str
    is_admin: bool = False


async def actor_for(runtime: Runtime, team_id: str, user_id: str) -> Actor:
    return Actor(team_id, user_id, await runtime.directory.is_admin(team_id, user_id))


def can_edit_workflow(actor: Actor, workflow: Workflow) -> bool:
    return actor.is_admin or actor.user_id == workflow.owner_id or actor.user_id in workflow.editors


def require_editor(actor: Actor, workflow: Workflow) -> None:
    if not can_edit_workflow(actor, workflow):
        raise Forbidden(
            f"Only the owner of `{workflow.name}` (<@{workflow.owner_id}>), its editors and "
            "workspace admins may change it."
        )


def is_group_id(slack_id: str) -> bool:
    return slack_id.startswith("S")


def can_run_workflow(actor: Actor, workflow: Workflow, member_of: Collection[str] = ()) -> bool:
    """Anyone may start runs, unless the workflow names who may (`runners`): then those
    people, the members of those user groups (`member_of`: the actor's groups among them),
    and always its owner, its editors and admins."""
    if not workflow.runners or can_edit_workflow(actor, workflow):
        return True
    return any(r == actor.user_id or r in member_of for r in workflow.runners)


async def require_runner(runtime: Runtime, actor: Actor, workflow: Workflow) -> None:
    """Refuse to start a run of a restricted workflow for someone it does not name. User
    groups are asked about (cached by the directory) only when nothing else lets them in."""
    if can_run_workflow(actor, workflow):
        return
    groups = [r for r in workflow.runners if is_group_id(r)]
    member_of = {
        group
        for group in groups
        if actor.user_id in await runtime.directory.group_members(actor.team_id, group)
    }
    if can_run_workflow(actor, workflow, member_of):
        return
    named = [
        f"members of <!subteam^{r}>" if is_group_id(r) else f"<@{r}>" for r in workflow.runners
    ]
    raise Forbidden(
        f"`{workflow.name}` may be run only by {', '.join(named)}, its owner "
        f"(<@{workflow.owner_id}>), its editors and workspace admins. Ask <@{workflow.owner_id}> "
        "to add you to its `runners`."
    )


def describe_access(workflow: Workflow) -> str:
    """Who may edit and run it, for `show`: "Editors: <@U1> · Who may run it: anyone"."""
    editors = ", ".join(f"<@{e}>" for e in workflow.editors) or "none besides the owner"
    if workflow.runners:
        named = [f"<!subteam^{r}>" if is_group_id(r) else f"<@{r}>" for r in workflow.runners]
        runners = ", ".join(named) + ", its owner, editors and admins"
    else:
        runners = "anyone"
    return f"Editors: {editors} · Who may run it: {runners}"


def can_manage_run(actor: Actor, run: Run, workflow: Workflow) -> bool:
    return actor.user_id == run.owner_id or can_edit_workflow(actor, workflow)


def is_assignee(actor: Actor, step: StepRun, group_members: frozenset[str]) -> bool:
    held = holders(step)
    return actor.user_id == held.user or (held.group is not None and actor.user_id in group_members)


SYSTEM_USER = "BATON"


def system_actor(team_id: str) -> Actor:
    """Baton itself, when a timer runs out or an integration answers."""
    return Actor(team_id, SYSTEM_USER, is_admin=True)


def actor_name(actor: Actor) -> str:
    """How an actor is named in messages: a mention, or Baton for its own doings."""
    return "Baton" if actor.user_id == SYSTEM_USER else f"<@{actor.user_id}>"
