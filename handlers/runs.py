"""`/baton run | status | cancel | history` and the text forms of the step buttons."""

from __future__ import annotations

import re
from datetime import datetime, time
from zoneinfo import ZoneInfo

from bot import runs
from bot.channel_access import require_member
from bot.command_line import SPEC_BY_NAME, split_words, usage_error
from bot.digests.forecast import eta_suffix, forecast_runs, projection_line
from bot.home import plate
from bot.permissions import actor_for
from bot.render.blocks import MESSAGE_BLOCKS, context, section
from bot.render.home import mine_message
from bot.render.runs import run_card, step_lines
from bot.replies import Reply
from bot.runs import RunRequest
from bot.runtime import Runtime
from bot.slack_text import escape, when
from bot.states import OPEN_STATES, StepAction
from bot.steps import StepChange, change_step
from handlers.requests import SlashRequest, Subcommand

CHANNEL = re.compile(r"<#([CG][A-Z0-9]+)(?:\|[^>]*)?>")
USER = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


async def _deadline(runtime: Runtime, request: SlashRequest, text: str) -> datetime:
    match = DATE.fullmatch(text)
    if match is None:
        raise usage_error(
            "run", f"`by {text}`: write the deadline as a date, e.g. `by 2026-12-01`."
        )
    zone = ZoneInfo(await runtime.directory.zone(request.team_id, request.user_id))
    try:
        day = datetime(int(match[1]), int(match[2]), int(match[3]), tzinfo=zone)
    except ValueError:
        raise usage_error("run", f"`{text}` is not a date.") from None
    return datetime.combine(day.date(), time(18, 0), tzinfo=zone)


async def run(runtime: Runtime, request: SlashRequest) -> Reply:
    words = request.command.args
    if not words:
        raise usage_error("run", "Which workflow? Give its name.")
    name, params, chosen, deadline = words[0].lower(), {}, None, None
    rest = iter(words[1:])
    for word in rest:
        if (found := CHANNEL.fullmatch(word)) is not None:
            chosen = found.group(1)
        elif word == "by":
            deadline = await _deadline(runtime, request, next(rest, ""))
        elif "=" in word:
            key, _, value = word.partition("=")
            params[key] = value
        else:
            raise usage_error("run", f"`{escape(word)}` is not a parameter: write key=value.")
    if chosen is not None and chosen != request.channel_id:  # where it was typed needs no check
        await require_member(
            runtime, team_id=request.team_id, user_id=request.user_id, channel_id=chosen
        )
    actor = await actor_for(runtime, request.team_id, request.user_id)
    wanted = RunRequest(name, params, request.channel_id, deadline, chosen_channel=chosen)
    started = await runs.start_run(runtime, actor, wanted, SPEC_BY_NAME["run"].usage)
    return Reply(f"Started `{started.key}` ({started.title}) in <#{started.channel_id}>.")


async def status(runtime: Runtime, request: SlashRequest) -> Reply:
    args = request.command.args
    if args:
        locked = await runs.get_run(runtime, request.team_id, args[0])
        now = runtime.clock.now()
        text, blocks = run_card(runtime.templates, locked.run, locked.steps, now)
        projection = (await forecast_runs(runtime, request.team_id, [locked])).get(
            locked.run.id or 0
        )
        if projection is not None and len(blocks) < MESSAGE_BLOCKS:
            blocks = [*blocks, context(projection_line(projection, locked.run.deadline, now))]
        return Reply(text, blocks)
    active = await runs.active_runs(runtime, request.team_id, request.channel_id)
    if not active:
        return Reply("No active runs in this channel. `/baton list` shows the workflows to run.")
    projections = await forecast_runs(runtime, request.team_id, active[:20])
    lines = []
    for item in active[:20]:
        open_steps = step_lines(
            runtime.templates, (s for s in item.steps if s.state in OPEN_STATES)
        )
        eta = eta_suffix(projections.get(item.run.id or 0), runtime.clock.now())
        lines.append(f"*{item.run.title}* · `{item.run.key}`{eta}\n" + "\n".join(open_steps[:5]))
    more = f"\n…and {len(active) - 20} more" if len(active) > 20 else ""
    text = "*Active runs here*\n" + "\n\n".join(lines) + more
    return Reply(text, [section(text)])


async def mine(runtime: Runtime, request: SlashRequest) -> Reply:
    found = await plate(runtime, request.team_id, request.user_id)
    text, blocks = mine_message(runtime.templates, found, request.user_id)
    return Reply(text, blocks)


async def cancel(runtime: Runtime, request: SlashRequest) -> Reply:
    key, _, reason = request.command.rest.partition(" ")
    if not key:
        raise usage_error("cancel", "Which run? Give its id, e.g. `onboarding-3`.")
    actor = await actor_for(runtime, request.team_id, request.user_id)
    cancelled = await runs.cancel_run(runtime, actor, key, reason.strip())
    return Reply(f"Cancelled `{cancelled.key}`.")


async def history(runtime: Runtime, request: SlashRequest) -> Reply:
    args = request.command.args
    if not args:
        raise usage_error("history", "Which run? Give its id, e.g. `onboarding-3`.")
    run, events = await runs.history(runtime, request.team_id, args[0])
    lines = []
    for event in events[-40:]:
        who = f"<@{event.actor_id}>" if event.actor_id else "Baton"
        step = f" `{event.step_key}`" if event.step_key else ""
        reason = event.detail.get("reason")
        why = f": {escape(str(reason))}" if reason else ""
        lines.append(f"{when(event.created_at)} {who} {event.action}{step}{why}")
    text = f"*History of `{run.key}`*\n" + "\n".join(lines)
    return Reply(text, [section(text)])


def _step_verb(action: StepAction, needs_reason: bool = False) -> Subcommand:
    name = action.value

    async def verb(runtime: Runtime, request: SlashRequest) -> Reply:
        words = split_words(request.command.rest)
        if len(words) < 2:
            raise usage_error(name, "Name the run and the step, e.g. `onboarding-3 docs`.")
        run_key, step_key, rest = words[0], words[1], " ".join(words[2:]).strip()
        change = StepChange(action)
        if needs_reason:
            if not rest:
                example = f"/baton {name} {escape(run_key)} {escape(step_key)} &lt;reason&gt;"
                raise usage_error(name, f"Say why: `{example}`.")
            change = StepChange(action, reason=rest)
        elif action == StepAction.REASSIGN:
            found = USER.fullmatch(rest)
            if found is None:
                raise usage_error(name, "Who should take it? Mention them: `@someone`.")
            change = StepChange(action, new_assignee=found.group(1))
        actor = await actor_for(runtime, request.team_id, request.user_id)
        changed = await change_step(runtime, actor, run_key, step_key, change)
        return Reply(changed.message)

    return verb


STEP_VERBS = {
    action.value: _step_verb(action, needs_reason=action in (StepAction.BLOCK, StepAction.REJECT))
    for action in (
        StepAction.START,
        StepAction.DONE,
        StepAction.BLOCK,
        StepAction.UNBLOCK,
        StepAction.SKIP,
        StepAction.RETRY,
        StepAction.APPROVE,
        StepAction.REJECT,
        StepAction.REASSIGN,
        StepAction.CLAIM,
    )
}
