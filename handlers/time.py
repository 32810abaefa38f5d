"""`/baton schedule | schedules | unschedule | away | hours` and the reminders' Snooze buttons."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.commands import SPEC_BY_NAME, check_workflow_name, quoted, row_id, usage_error
from bot.core.errors import NotFound
from bot.notify.replies import Reply
from bot.people import availability
from bot.people.channel_access import require_member, require_postable
from bot.people.permissions import Actor
from bot.render.blocks import listing, section
from bot.runtime import Runtime
from bot.slack.ids import ActionId, TimerRef
from bot.slack.inflight import InFlight
from bot.slack.text import clip, conversation_name, echo, is_channel, when
from bot.timing import schedules, snooze
from bot.timing.when import parse_when
from bot.workflows import definitions as workflows
from handlers.listening import listener
from handlers.requests import ClickRequest, SlashRequest
from handlers.runs import CHANNEL, USER, add_param

Respond = Callable[..., Awaitable[Any]]


async def schedule(runtime: Runtime, request: SlashRequest, actor: Actor) -> Reply:
    words = request.command.args
    if len(words) < 2:
        raise usage_error(
            "schedule", "Name the workflow and when it runs, e.g. `standup weekdays 09:00`."
        )
    name = check_workflow_name("schedule", words[0])
    spec, rest = parse_when(words[1:])
    params: dict[str, str] = {}
    chosen: str | None = None
    for word in rest:
        if (found := CHANNEL.fullmatch(word)) is not None:
            chosen = found.group(1)
        elif "=" in word:
            add_param("schedule", word, params)
        else:
            raise usage_error("schedule", f"{quoted(word)} is not a parameter: write key=value.")
    if chosen is not None and chosen != request.channel_id:  # where it was typed needs no check
        await require_member(
            runtime, team_id=request.team_id, user_id=request.user_id, channel_id=chosen
        )
    await _require_run_channel(runtime, request, name, chosen)
    added = await schedules.add_schedule(
        runtime,
        actor,
        name=name,
        when=spec,
        params=params,
        channel_id=request.channel_id,
        chosen_channel=chosen,
        usage=SPEC_BY_NAME["schedule"].usage,
    )
    row = added.schedule
    assert row.next_fire_at is not None
    where = conversation_name(row.channel_id or request.channel_id)
    return Reply(
        f"Scheduled `{added.workflow}` {row.spec} ({row.tz} time) as schedule {row.id}, "
        f"posting in {where}. First run {when(row.next_fire_at)}. "
        f"`/baton unschedule {row.id}` stops it."
    )


async def _require_run_channel(
    runtime: Runtime, request: SlashRequest, name: str, chosen: str | None
) -> None:
    """Where the scheduled runs' cards will go (as `run` settles it) must be a place Baton can
    post, or every run would fail there unseen: refuse now and say what to do instead."""
    _, defn = await workflows.get_definition(runtime, request.team_id, name)
    target = chosen or defn.channel or request.channel_id
    example = f"`/baton schedule {name} &lt;when&gt; #channel`"
    if chosen or defn.channel:
        fix = f"Name another channel Baton is in: {example}."
    else:
        fix = f"Or name a channel Baton is in: {example}."
    await require_postable(runtime, team_id=request.team_id, channel_id=target, fix=fix)


async def list_schedules(runtime: Runtime, request: SlashRequest) -> Reply:
    listed = await schedules.list_schedules(runtime, request.team_id)
    if not listed:
        return Reply(
            "No recurring runs yet. `/baton schedule &lt;name&gt; weekdays 09:00` adds one."
        )
    lines = []
    for item in listed:
        row = item.schedule
        params = " ".join(f"{k}={v}" for k, v in row.params.items())
        extra = f" · {echo(params)}" if params else ""
        upcoming = f"next {when(row.next_fire_at)}" if row.next_fire_at else "paused"
        where = row.channel_id or ""
        shown = f"<#{where}>" if is_channel(where) else f"DM to <@{row.created_by}>"
        lines.append(
            f"`{row.id}` `{item.workflow}` · {row.spec} ({row.tz}) · {upcoming} · "
            f"{shown} · by <@{row.created_by}>{extra}"
        )
    blocks = listing(
        lines, len(lines), str, "…and {} more".format, max_blocks=50, heading="*Recurring runs*"
    )
    return Reply("\n".join(["*Recurring runs*", *lines]), blocks)


async def unschedule(runtime: Runtime, request: SlashRequest, actor: Actor) -> Reply:
    args = request.command.args
    if len(args) != 1 or not (args[0].isascii() and args[0].isdigit()):
        raise usage_error("unschedule", "Give the schedule's number, as `/baton schedules` shows.")
    schedule_id = row_id(args[0])
    if schedule_id is None:  # more digits than any id has: none can match
        raise NotFound(f"There is no schedule {clip(args[0], 30)}. `/baton schedules` lists them.")
    removed = await schedules.remove_schedule(runtime, actor, schedule_id)
    return Reply(
        f"Removed schedule {removed.schedule.id}: `{removed.workflow}` {removed.schedule.spec} "
        "runs no more. Runs already started go on."
    )


async def away(runtime: Runtime, request: SlashRequest) -> Reply:
    words = request.command.args
    team, user = request.team_id, request.user_id
    if not words:
        now = await availability.availability(runtime, team, user)
        if now.away_until is None:
            return Reply("You're not away. `/baton away friday delegate @someone` sets it.")
        to = f"<@{now.delegate_id}>" if now.delegate_id else "each run's owner"
        return Reply(f"You're away until {when(now.away_until)}; new steps go to {to}.")
    if words[0].lower() == "off":
        was_away = await availability.end_away(runtime, team, user)
        if not was_away:
            return Reply("You weren't away; nothing changed.")
        return Reply("Welcome back! Your reminders resume and new steps come to you again.")
    zone = await runtime.directory.zone(team, user)
    until, rest = availability.parse_until(words, zone, runtime.clock.now())
    delegate = None
    if rest:
        found = (
            USER.fullmatch(rest[1]) if len(rest) == 2 and rest[0].lower() == "delegate" else None
        )
        if found is None:
            raise usage_error("away", "Name your delegate as `delegate @someone`.")
        delegate = found.group(1)
        if delegate == user:
            raise usage_error("away", "Your delegate must be someone else.")
    await availability.set_away(runtime, team, user, until.at, delegate)
    to = f"<@{delegate}>" if delegate else "each run's owner"
    return Reply(
        f"You're away {until.shown}. Your reminders wait until you're back, and steps that "
        f"become ready for you go to {to}. `/baton away off` ends it early."
    )


async def hours(runtime: Runtime, request: SlashRequest) -> Reply:
    words = request.command.args
    team, user = request.team_id, request.user_id
    if not words:
        current = await availability.availability(runtime, team, user)
        return Reply(f"Your working hours: {current.hours.describe()}. Reminders reach you then.")
    saved = await availability.set_hours(runtime, team, user, availability.parse_hours(words))
    return Reply(f"Your working hours are now {saved.describe()}. Reminders reach you only then.")


async def snooze_button(click: ClickRequest, respond: Respond, runtime: Runtime) -> None:
    ref = TimerRef.decode(click.value)
    snoozed = await snooze.snooze(
        runtime,
        team_id=click.team_id,
        user_id=click.user_id,
        timer_ids=ref.timers,
        tomorrow=click.action_id == ActionId.SNOOZE_TOMORROW,
    )
    if not snoozed.steps:
        await respond(
            text="Nothing to snooze: those reminders were snoozed already or their steps are done.",
            response_type="ephemeral",
            replace_original=False,
        )
        return
    steps = ", ".join(f"`{step}` in `{run}`" for run, step in snoozed.steps)
    text = f"😴 Snoozed until {when(snoozed.until)}: {steps}"
    await respond(text=text, blocks=[section(text)], replace_original=True)


def register(app: AsyncApp, inflight: InFlight) -> None:
    for action_id in (ActionId.SNOOZE_HOUR, ActionId.SNOOZE_TOMORROW):
        app.action(action_id.value)(listener(inflight, snooze_button))
