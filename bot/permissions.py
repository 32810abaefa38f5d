"""Who may do what (SPEC section 8). Checked in the services, never only in the UI."""

from __future__ import annotations

from dataclasses import dataclass

from bot.errors import Forbidden
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


def can_manage_run(actor: Actor, run: Run, workflow: Workflow) -> bool:
    return actor.user_id == run.owner_id or can_edit_workflow(actor, workflow)


def is_assignee(actor: Actor, step: StepRun, group_members: frozenset[str]) -> bool:
    if step.assignee_kind == "group":
        return actor.user_id == step.claimed_by or (
            step.claimed_by is None and actor.user_id in group_members
        )
    return actor.user_id == step.assignee_id


SYSTEM_USER = "BATON"


def system_actor(team_id: str) -> Actor:
    """Baton itself, when a timer runs out or an integration answers."""
    return Actor(team_id, SYSTEM_USER, is_admin=True)


def actor_name(actor: Actor) -> str:
    """How an actor is named in messages: a mention, or Baton for its own doings."""
    return "Baton" if actor.user_id == SYSTEM_USER else f"<@{actor.user_id}>"
