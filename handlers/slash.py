"""The `/baton` slash command: ack, parse, hand to the subcommand's handler, answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.command_line import SPEC_BY_NAME, suggest
from bot.errors import BatonError
from bot.help import help_reply
from bot.inflight import InFlight
from bot.replies import Reply
from bot.runtime import Runtime
from bot.language import DefinitionError, language_help
from handlers import runs, workflows
from handlers.requests import SlashRequest, Subcommand

Respond = Callable[..., Awaitable[Any]]


async def help_command(runtime: Runtime, request: SlashRequest) -> Reply:
    return help_reply(request.command.rest, SUBCOMMANDS, language_help())


SUBCOMMANDS: dict[str, Subcommand] = {
    "help": help_command,
    "define": workflows.define,
    "list": workflows.list_workflows,
    "show": workflows.show,
    "delete": workflows.delete,
    "export": workflows.export,
    "run": runs.run,
    "status": runs.status,
    "cancel": runs.cancel,
    "history": runs.history,
    **runs.STEP_VERBS,
}


def unknown_subcommand(name: str) -> Reply:
    nearest = suggest(name, list(SUBCOMMANDS))
    hint = f" Did you mean `/baton {nearest}`?" if nearest else ""
    usage = f" Usage: `{SPEC_BY_NAME[nearest].usage}`." if nearest else ""
    text = f"`{name}` is not a Baton command.{hint}{usage} `/baton help` lists them all."
    return Reply(text)


async def dispatch(runtime: Runtime, request: SlashRequest) -> Reply:
    name = request.command.name or "help"
    handler = SUBCOMMANDS.get(name)
    if handler is None:
        return unknown_subcommand(name)
    return await handler(runtime, request)


async def baton_command(
    ack: Callable[[], Awaitable[None]], command: dict[str, Any], respond: Respond, runtime: Runtime
) -> None:
    await ack()
    reply = await dispatch(runtime, SlashRequest.from_payload(command))
    await respond(**reply.as_response())


async def on_error(
    error: Exception, body: dict[str, Any], respond: Respond | None, logger: Any
) -> None:
    """Domain errors become the ephemeral message they carry; anything else is logged."""
    if isinstance(error, BatonError):
        text = str(error)
    elif isinstance(error, DefinitionError):
        text = f"That workflow has problems; nothing was saved.\n{error}"
    else:
        logger.exception("unhandled error", exc_info=error)
        text = "Something went wrong on Baton's side, and nothing was changed. Please try again."
    if respond is not None and body.get("response_url"):
        await respond(text=text, response_type="ephemeral", replace_original=False)


def register(app: AsyncApp, inflight: InFlight) -> None:
    app.command("/baton")(inflight.track(baton_command))
    app.error(on_error)
