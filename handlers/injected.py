"""What a listener or a subcommand receives by naming it, the way Bolt hands over `body` or
`respond`: the person acting, the step a button or command is about, and typed requests.

    async def step_button(click: ClickRequest, step: StepRef, actor: Actor, runtime: Runtime)

A listener may name, besides Bolt's own arguments and the context's `runtime`:
- `click` (ClickRequest) or `submission` (ViewSubmission): the typed request;
- `step` (StepRef): the step a step button's value or a step modal's metadata names;
- `workflow_ref` (WorkflowRef): the workflow the builder or import modal was opened for;
- `actor` (Actor): who clicked or submitted, with whether they are an admin.
A subcommand may name `runtime`, `request` (SlashRequest), `actor`, and `step`, read from the
command's first two words (`/baton done onboarding-3 docs`) with their usage errors.

They are resolved when the listener starts, which for commands and clicks is after their ack
(handlers/listening.py), so Slack's answer never waits on the directory: a Bolt middleware
would run before the ack, and finding out whether someone is an admin can take a users.info
call. `actor` is resolved last, so a request refused for its words costs no lookup.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Collection
from typing import Any

from bot.commands import check_run_key, check_step_key, split_words, usage_error
from bot.people.permissions import actor_for
from bot.runtime import Runtime
from bot.slack.ids import StepRef, WorkflowRef
from handlers.requests import ClickRequest, SlashRequest, ViewSubmission

LISTENER_ARGS = frozenset({"click", "submission", "step", "workflow_ref", "actor"})
SUBCOMMAND_ARGS = frozenset({"runtime", "request", "step", "actor"})


def names(function: Callable[..., Any]) -> tuple[str, ...]:
    return tuple(inspect.signature(function).parameters)


def _last_actor(wanted: Collection[str]) -> list[str]:
    return sorted(wanted, key=lambda name: name == "actor")


async def for_listener(
    wanted: Collection[str], body: dict[str, Any], runtime: Runtime
) -> dict[str, Any]:
    """The values of the LISTENER_ARGS among `wanted`, for this request."""
    values: dict[str, Any] = {}
    for name in _last_actor(wanted):
        if name == "click":
            values[name] = ClickRequest.from_payload(body)
        elif name == "submission":
            values[name] = ViewSubmission.from_payload(body)
        elif name == "step":
            values[name] = _step_of(body)
        elif name == "workflow_ref":
            values[name] = WorkflowRef.decode(ViewSubmission.from_payload(body).private_metadata)
        elif name == "actor":
            values[name] = await actor_for(runtime, *_who(body))
    return values


async def for_subcommand(
    wanted: Collection[str], request: SlashRequest, runtime: Runtime
) -> dict[str, Any]:
    """The values of the SUBCOMMAND_ARGS among `wanted`, for this command."""
    values: dict[str, Any] = {}
    for name in _last_actor(wanted):
        if name == "runtime":
            values[name] = runtime
        elif name == "request":
            values[name] = request
        elif name == "step":
            values[name] = command_step(request)
        elif name == "actor":
            values[name] = await actor_for(runtime, request.team_id, request.user_id)
    return values


def command_step(request: SlashRequest) -> StepRef:
    """`<run-id> <step>`, the first two words of a step command."""
    name, words = request.command.name, split_words(request.command.rest)
    if len(words) < 2:
        raise usage_error(name, "Name the run and the step, e.g. `onboarding-3 docs`.")
    run = check_run_key(name, words[0])
    return StepRef(run=run, step=check_step_key(name, words[1], run))


def _step_of(body: dict[str, Any]) -> StepRef:
    if body.get("type") == "view_submission":
        return StepRef.decode(ViewSubmission.from_payload(body).private_metadata)
    return StepRef.decode(ClickRequest.from_payload(body).value)


def _who(body: dict[str, Any]) -> tuple[str, str]:
    """The workspace and person of an interaction (a click or a modal's submission)."""
    team, user = body.get("team") or {}, body.get("user") or {}
    return str(team.get("id") or user.get("team_id") or ""), str(user.get("id") or "")
