"""The `/baton` slash command: ack, parse, hand to the subcommand's handler, answer.

`COMMANDS` is the one registry of subcommands: each spec of bot/commands.py (its usage line
and help topic, which services quote in usage errors) paired with the handler that answers it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.commands import SPEC_BY_NAME, SPECS, CommandSpec, suggest, usage_error
from bot.notify.replies import Reply
from bot.render.help import help_reply
from bot.runtime import Runtime
from bot.slack.inflight import InFlight
from bot.slack.text import escape
from handlers import access, builder, digests, hooks, injected, runs, settings, time, workflows
from handlers.listening import listener
from handlers.requests import SlashRequest, Subcommand

Respond = Callable[..., Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Command:
    spec: CommandSpec
    handler: Subcommand
    wants: tuple[str, ...]  # what the handler names (handlers/injected.py)


def pair(handlers: Mapping[str, Subcommand]) -> dict[str, Command]:
    """Each spec with its handler, in the specs' order. A spec without a handler (help would
    offer a command that fails) or a handler without a spec (a command help never mentions,
    whose usage errors could not be written) stops the import."""
    missing = [spec.name for spec in SPECS if spec.name not in handlers]
    unknown = sorted(set(handlers) - SPEC_BY_NAME.keys())
    if missing or unknown:
        raise LookupError(
            f"subcommands without a handler: {missing}; handlers without a spec: {unknown}"
        )
    commands = {}
    for spec in SPECS:
        handler = handlers[spec.name]
        wants = injected.names(handler)
        if not set(wants) <= injected.SUBCOMMAND_ARGS:
            raise TypeError(f"`{spec.name}`'s handler names what no one gives: {wants}")
        commands[spec.name] = Command(spec, handler, wants)
    return commands


async def help_command(runtime: Runtime, request: SlashRequest) -> Reply:
    return help_reply(runtime.templates, request.command.rest)


COMMANDS = pair(
    {
        "help": help_command,
        "define": workflows.define,
        "new": builder.new,
        "edit": builder.edit,
        "import": builder.import_workflow,
        "export": workflows.export,
        "list": workflows.list_workflows,
        "show": workflows.show,
        "delete": workflows.delete,
        "restore": workflows.restore,
        "editors": access.editors,
        "runners": access.runners,
        "run": runs.run,
        "status": runs.status,
        "mine": runs.mine,
        "cancel": runs.cancel,
        "history": runs.history,
        **runs.STEP_VERBS,
        "schedule": time.schedule,
        "schedules": time.list_schedules,
        "unschedule": time.unschedule,
        "away": time.away,
        "hours": time.hours,
        "digest": digests.digest,
        "hook": hooks.hook,
        "settings": settings.settings,
    }
)


def unknown_subcommand(name: str) -> Reply:
    nearest = suggest(name, list(COMMANDS))
    hint = f" Did you mean `/baton {nearest}`?" if nearest else ""
    usage = f" Usage: `{escape(COMMANDS[nearest].spec.usage)}`." if nearest else ""
    text = f"`{escape(name)}` is not a Baton command.{hint}{usage} `/baton help` lists them all."
    return Reply(text)


async def dispatch(runtime: Runtime, request: SlashRequest) -> Reply:
    name = request.command.name or "help"
    command = COMMANDS.get(name)
    if command is None:
        return unknown_subcommand(name)
    if "\x00" in request.text:  # no database stores it (PostgreSQL refuses it in text)
        raise usage_error(
            name, "Your command contains a NUL character (\\0); type it again without it."
        )
    return await command.handler(**await injected.for_subcommand(command.wants, request, runtime))


async def baton_command(command: dict[str, Any], respond: Respond, runtime: Runtime) -> None:
    reply = await dispatch(runtime, SlashRequest.from_payload(command))
    if reply.text or reply.blocks:  # a command that opened a modal has nothing more to say
        await respond(**reply.as_response())


def register(app: AsyncApp, inflight: InFlight) -> None:
    app.command("/baton")(listener(inflight, baton_command))
