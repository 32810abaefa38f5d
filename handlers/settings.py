"""`/baton settings [escalation <working days>|off]`: the workspace's settings."""

from __future__ import annotations

from bot.commands import usage_error
from bot.notify.replies import Reply
from bot.people import workspace_settings
from bot.people.permissions import Actor
from bot.people.workspace_settings import MAX_ESCALATION_DAYS, describe_escalation, parse_escalation
from bot.render.blocks import context, section
from bot.runtime import Runtime
from bot.slack.text import escape
from handlers.requests import SlashRequest

HOW_TO_CHANGE = (
    "Admins change it with `/baton settings escalation &lt;working days&gt;` (1 to "
    f"{MAX_ESCALATION_DAYS}) or `/baton settings escalation off`."
)


async def settings(runtime: Runtime, request: SlashRequest, actor: Actor) -> Reply:
    args = request.command.args
    if not args:
        current = await workspace_settings.get_settings(runtime, request.team_id)
        line = f"*Escalation*: {describe_escalation(current.escalation_working_days)}."
        text = f"*Baton's settings for this workspace*\n{line}"
        return Reply(f"{text}\n{HOW_TO_CHANGE}", [section(text), context(HOW_TO_CHANGE)])
    if args[0].lower() != "escalation":
        raise usage_error(
            "settings", f"`{escape(args[0])}` is not a setting. Settings: `escalation`."
        )
    if len(args) < 2:
        raise usage_error(
            "settings",
            "How many working days after a step's due time should its run's owner be told? "
            "E.g. `/baton settings escalation 2`, or `off`.",
        )
    days = parse_escalation(" ".join(args[1:]))
    before, after = await workspace_settings.set_escalation(runtime, actor, days)
    now = describe_escalation(after.escalation_working_days)
    was = before.escalation_working_days
    was_text = "off" if was == 0 else f"{was} working day{'' if was == 1 else 's'}"
    return Reply(
        f"Escalation set to {now} (was {was_text}). It applies to steps that become overdue "
        "from now on."
    )
