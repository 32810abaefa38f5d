"""The `/baton` slash command: ack, parse, hand to the subcommand's handler, answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.commands import SPEC_BY_NAME, suggest, usage_error
from bot.notify.replies import Reply
from bot.render.help import help_reply
from bot.runtime import Runtime
from bot.slack.inflight import InFlight
from bot.slack.text import escape
from handlers import access, builder, digests, hooks, runs, settings, time, workflows
from handlers.listening import listener
from handlers.requests import SlashRequest, Subcommand

Respond = Callable[..., Awaitable[Any]]


async def help_command(runtime: Runtime, request: SlashRequest) -> Reply:
    return help_reply(runtime.templates, request.command.rest, SUBCOMMANDS)


SUBCOMMANDS: dict[str, Subcommand] = {
    "help": help_command,
    "define": workflows.define,
    "new": builder.new,
    "edit": builder.edit,
    "import": builder.import_workflow,
    "list": workflows.list_workflows,
    "show": workflows.show,
    "delete": workflows.delete,
    "restore": workflows.restore,
    "export": workflows.export,
    "run": runs.run,
    "status": runs.status,
    "mine": runs.mine,
    "cancel": runs.cancel,
    "history": runs.history,
    "digest": digests.digest,
    "hook": hooks.hook,
    "settings": settings.settings,
    "editors": access.editors,
    "runners": access.runners,
    **runs.STEP_VERBS,
    **time.SUBCOMMANDS,
}


def unknown_subcommand(name: str) -> Reply:
    nearest = suggest(name, list(SUBCOMMANDS))
    hint = f" Did you mean `/baton {nearest}`?" if nearest else ""
    usage = f" Usage: `{escape(SPEC_BY_NAME[nearest].usage)}`." if nearest else ""
    text = f"`{escape(name)}` is not a Baton command.{hint}{usage} `/baton help` lists them all."
    return Reply(text)


async def dispatch(runtime: Runtime, request: SlashRequest) -> Reply:
    name = request.command.name or "help"
    handler = SUBCOMMANDS.get(name)
    if handler is None:
        return unknown_subcommand(name)
    if "\x00" in request.text:  # no database stores it (PostgreSQL refuses it in text)
        raise usage_error(
            name, "Your command contains a NUL character (\\0); type it again without it."
        )
    return await handler(runtime, request)


async def baton_command(
    ack: Callable[[], Awaitable[None]], command: dict[str, Any], respond: Respond, runtime: Runtime
) -> None:
    await ack()
    reply = await dispatch(runtime, SlashRequest.from_payload(command))
    if reply.text or reply.blocks:  # a command that opened a modal has nothing more to say
        await respond(**reply.as_response())


def register(app: AsyncApp, inflight: InFlight) -> None:
    app.command("/baton")(listener(inflight, baton_command))
