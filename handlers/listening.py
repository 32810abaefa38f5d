"""How every listener is registered: counted while it runs, a command or click acked before
it starts, handed what it names (handlers/injected.py), and its domain errors turned into the
ephemeral message they carry.

Errors are handled here rather than in Bolt's `@app.error`: Bolt loses the ack of a listener
that raises within a few milliseconds of acking (its runner resets the response), and Slack
would then see a 404 instead of the polite refusal.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.kwargs_injection.async_args import AsyncArgs

from bot.commands import SPEC_BY_NAME, usage_error
from bot.core.errors import BatonError, InvalidInput
from bot.language import DefinitionError
from bot.slack.acks import ack_then_wait
from bot.slack.inflight import InFlight
from bot.slack.requests import LEDGER, REQUEST, Ledger, RequestKey
from bot.slack.text import clip, echo, escape
from handlers import injected
from handlers.requests import SlashRequest, ViewSubmission

log = logging.getLogger("baton.handlers")

Listener = Callable[..., Awaitable[None]]


# Refusals quote what was typed; however long that was, the answer stays readable.
MAX_ERROR_CHARS = 3000


def error_text(error: Exception, body: dict[str, Any]) -> str:
    if isinstance(error, InvalidInput):  # a parser's complaint: the command's usage follows it
        name = SlashRequest.from_payload(body).command.name if "command" in body else ""
        problem = escape(str(error))
        error = usage_error(name, problem) if name in SPEC_BY_NAME else BatonError(problem)
    if isinstance(error, BatonError):
        return clip(str(error), MAX_ERROR_CHARS)
    if isinstance(error, DefinitionError):
        # Problems quote what was typed, which Slack must show as text (its mentions clean).
        problems = clip(echo(str(error)), MAX_ERROR_CHARS)
        return f"That workflow has problems; nothing was saved.\n{problems}"
    log.exception("unhandled error in a Slack listener", exc_info=error)
    return "Something went wrong on Baton's side, and nothing was changed. Please try again."


async def tell_error(args: AsyncArgs, error: Exception) -> None:
    body = args.body or {}
    text = error_text(error, body)
    if body.get("response_url"):
        await args.respond(text=text, response_type="ephemeral", replace_original=False)
        return
    user = (body.get("user") or {}).get("id") or body.get("user_id")
    if user:  # no response_url (e.g. the App Home): a DM says what went wrong
        await args.client.chat_postMessage(channel=user, text=text)


def _kept(args: AsyncArgs) -> contextlib.AbstractAsyncContextManager[None]:
    """The request's durable record (commands and interactions), held while the listener runs."""
    key = args.context.get(REQUEST)
    ledger = args.context.get(LEDGER)
    if isinstance(key, RequestKey) and isinstance(ledger, Ledger):
        return ledger.handling(key)
    return contextlib.nullcontext()


def acked_first(body: dict[str, Any]) -> bool:
    """Commands and clicks: Baton answers them through `respond` or messages, never in the
    ack, so theirs goes out before the listener (and what it names) is worked out. A modal's
    submission is acked by its listener, perhaps with errors; Bolt acks events itself."""
    return "command" in body or body.get("type") == "block_actions"


# Where a modal's listener shows what went wrong in the modal, next to the fields concerned
# (the modal stays open); None tells it as any listener's error.
ModalErrors = Callable[[Exception, ViewSubmission], dict[str, str] | None]


def listener(
    inflight: InFlight, function: Listener, *, in_modal: ModalErrors | None = None
) -> Callable[[AsyncArgs], Awaitable[None]]:
    """`function` run for a request; with `in_modal`, a modal submission's listener whose
    errors go back into the modal as `in_modal` places them."""
    names = injected.names(function)
    extra = [name for name in names if name in injected.LISTENER_ARGS]

    async def run(args: AsyncArgs) -> None:
        values = {name: getattr(args, name, None) for name in names}
        for name in names:
            if values[name] is None and name in args.context:
                values[name] = args.context[name]
        bolt_ack: Any = args.ack  # returns its response, where ack_then_wait wants None
        ack = ack_then_wait(bolt_ack, args.context)  # work after ack() waits for the answers
        if "ack" in values:
            values["ack"] = ack
        body = args.body or {}
        started = False
        async with inflight.running(), _kept(args):
            try:
                if acked_first(body):
                    await ack()
                if extra:
                    runtime = args.context["runtime"]
                    values.update(await injected.for_listener(extra, body, runtime))
                started = True
                await function(**values)
            except Exception as error:  # every listener failure ends as a message, not a 404
                placed = None
                if in_modal is not None and started:
                    placed = in_modal(error, ViewSubmission.from_payload(body))
                if placed:
                    await ack(response_action="errors", errors=placed)
                else:
                    await tell_error(args, error)

    run.__name__ = function.__name__
    return run
