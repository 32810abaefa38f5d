"""`/baton editors <name> [add|remove @user ...]` and
`/baton runners <name> [add|remove @user|@group ... | anyone]`."""

from __future__ import annotations

from bot.commands import check_workflow_name, quoted, usage_error
from bot.language import Assignee, AssigneeError, parse_assignee
from bot.notify.replies import Reply
from bot.people.permissions import Actor, describe_access, is_group_id
from bot.runtime import Runtime
from bot.workflows import definitions as workflows
from bot.workflows.access import (
    AccessList,
    Change,
    change_access,
    resolve_people,
)
from handlers.requests import SlashRequest
from storage.vocabulary import AssigneeKind

WHO = {"editors": "@user", "runners": "@user or @group"}


def _named(ids: list[str]) -> str:
    return ", ".join(f"<!subteam^{i}>" if is_group_id(i) else f"<@{i}>" for i in ids)


def _parse_people(key: AccessList, words: list[str]) -> list[Assignee]:
    if not words:
        raise usage_error(key, f"Whom? Name one or more: {WHO[key]} ...")
    people = []
    for word in words:
        try:
            person = parse_assignee(word.rstrip(","))
        except AssigneeError:
            person = None
        if person is None or person.kind == AssigneeKind.PARAM:
            raise usage_error(key, f"{quoted(word)} is not a person: mention one with `@`.")
        people.append(person)
    return people


async def _access(runtime: Runtime, request: SlashRequest, actor: Actor, key: AccessList) -> Reply:
    args = request.command.args
    if not args:
        raise usage_error(key, "Which workflow? Give its name.")
    name = check_workflow_name(key, args[0])
    if len(args) == 1:
        workflow, _ = await workflows.get_definition(runtime, request.team_id, name)
        return Reply(f"`{name}`: {describe_access(workflow)}")
    verb = args[1].lower()
    rest = args[2:]
    change: Change
    ids: list[str]
    if verb == "anyone" and key == "runners" and not rest:
        change, ids = "anyone", []
    elif verb in ("add", "remove"):
        ids = await resolve_people(runtime, request.team_id, key, _parse_people(key, rest))
        change = "add" if verb == "add" else "remove"
    else:
        choices = "`add`, `remove` or `anyone`" if key == "runners" else "`add` or `remove`"
        raise usage_error(key, f"{quoted(args[1])} is not something to do: write {choices}.")
    done = await change_access(runtime, actor, name, key, change, ids)
    if key == "editors":
        now = _named(done.after) or "none besides the owner"
        return Reply(f"Editors of `{name}` are now: {now}.")
    now = _named(done.after) + ", its owner, editors and admins" if done.after else "anyone"
    return Reply(f"`{name}` may now be run by {now}.")


async def editors(runtime: Runtime, request: SlashRequest, actor: Actor) -> Reply:
    return await _access(runtime, request, actor, "editors")


async def runners(runtime: Runtime, request: SlashRequest, actor: Actor) -> Reply:
    return await _access(runtime, request, actor, "runners")
