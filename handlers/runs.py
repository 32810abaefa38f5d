"""`/baton run | status | cancel | history` and the text forms of the step buttons."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta

from bot.commands import (
    RUN_KEY_RE,
    SPEC_BY_NAME,
    check_param_name,
    check_run_key,
    check_workflow_name,
    quoted,
    split_words,
    usage_error,
)
from bot.core.states import OPEN_STATES, StepAction
from bot.digests.forecast import eta_suffix, forecast_runs, projection_line
from bot.notify.replies import Reply
from bot.people import availability
from bot.people.availability import TimePassed
from bot.people.channel_access import require_member, require_postable
from bot.people.permissions import Actor
from bot.render.blocks import (
    LINE_TEXT,
    MESSAGE_BLOCKS,
    checked,
    context,
    fallback,
    listing,
)
from bot.render.home import mine_message
from bot.render.runs import history_line, run_card, step_lines
from bot.runs import lifecycle as runs
from bot.runs.engine import LockedRun
from bot.runs.lifecycle import RunRequest
from bot.runs.paging import Page, check_page, is_page_word
from bot.runs.plate import plate
from bot.runs.steps import StepChange, change_step
from bot.runtime import Runtime
from bot.slack.ids import StepRef
from bot.slack.text import clip, conversation_name, escape, plural
from bot.workflows import definitions as workflows
from handlers.requests import SlashRequest, Subcommand

CHANNEL = re.compile(r"<#([CG][A-Z0-9]+)(?:\|[^>]*)?>")
USER = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
STATUS_PAGE = 20  # active runs a page of `status` shows, each with its first open steps
HISTORY_PAGE = 40  # events a page of `history` shows
STATUS_STEPS = 5  # open steps shown a run


DEADLINE_TIME = time(18, 0)  # a deadline given as a day means the end of its working day
MAX_DEADLINE = (timedelta(days=5 * 365), "Baton takes deadlines up to five years ahead")


async def _deadline(
    runtime: Runtime, request: SlashRequest, words: list[str]
) -> tuple[datetime, list[str]]:
    """`by <when>`, read as `away` reads its `<until>` (a day means 18:00 on it, the
    caller's time); returns the deadline and the words after it."""
    zone = await runtime.directory.zone(request.team_id, request.user_id)
    try:
        until, rest = availability.parse_until(
            words,
            zone,
            runtime.clock.now(),
            day_ends=DEADLINE_TIME,
            limit=MAX_DEADLINE,
            asked="By when?",
        )
    except TimePassed:
        timed = len(words) > 1 and ":" in words[1]
        spelled = escape(" ".join(words[:2] if timed else words[:1]))
        meaning = "" if timed else " (18:00 your time)"
        raise usage_error(
            "run", f"`by {spelled}`: that deadline{meaning} has passed; give a later date."
        ) from None
    except ValueError as exc:
        typed = escape(clip(words[0], 80)) if words else ""
        raise usage_error("run", f"`by {typed}`: {escape(str(exc))}.") from None
    return until.at, rest


async def _require_card_channel(
    runtime: Runtime, request: SlashRequest, name: str, chosen: str | None
) -> None:
    """Where the run card will go (the #channel named, else the workflow's own, else here)
    must be a place Baton can post: else nothing starts, and the person hears what to do."""
    _, defn = await workflows.get_definition(runtime, request.team_id, name)
    target = chosen or defn.channel or request.channel_id
    if chosen or defn.channel:
        fix = f"Name another channel Baton is in: `/baton run {name} #channel`."
    else:
        fix = f"Or name a channel Baton is in: `/baton run {name} #channel`."
    await require_postable(runtime, team_id=request.team_id, channel_id=target, fix=fix)


def add_param(command: str, word: str, params: dict[str, str]) -> None:
    """One `key=value` of `run` or `schedule` into `params`; a missing or repeated key is a
    mistake (the last one silently winning would hide it)."""
    key, _, value = word.partition("=")
    if not key:
        raise usage_error(command, f"{quoted(word)} has no parameter name before `=`.")
    check_param_name(command, key)
    if key in params:
        raise usage_error(command, f"`{escape(key)}` is given twice: give each parameter once.")
    params[key] = value


async def run(runtime: Runtime, request: SlashRequest, actor: Actor) -> Reply:
    words = request.command.args
    if not words:
        raise usage_error("run", "Which workflow? Give its name.")
    name, chosen, deadline = check_workflow_name("run", words[0]), None, None
    params: dict[str, str] = {}
    rest = words[1:]
    while rest:
        word, rest = rest[0], rest[1:]
        if (found := CHANNEL.fullmatch(word)) is not None:
            chosen = found.group(1)
        elif word.lower() == "by":
            deadline, rest = await _deadline(runtime, request, rest)
        elif "=" in word:
            add_param("run", word, params)
        else:
            raise usage_error("run", f"{quoted(word)} is not a parameter: write key=value.")
    if chosen is not None and chosen != request.channel_id:  # where it was typed needs no check
        await require_member(
            runtime, team_id=request.team_id, user_id=request.user_id, channel_id=chosen
        )
    await _require_card_channel(runtime, request, name, chosen)
    wanted = RunRequest(name, params, request.channel_id, deadline, chosen_channel=chosen)
    started = await runs.start_run(runtime, actor, wanted, SPEC_BY_NAME["run"].usage)
    where = conversation_name(started.channel_id)
    return Reply(f"Started `{started.key}` ({started.title}) in {where}.")


async def status(runtime: Runtime, request: SlashRequest) -> Reply:
    args = request.command.args
    _at_most("status", args, 1)
    if args and not is_page_word(args[0]):
        return await _run_status(runtime, request, _status_run_key(args[0]))
    word = args[0] if args else None

    def choose(total: int) -> Page:
        if total == 0:  # nothing to page through, whichever page was asked for
            return Page(1, STATUS_PAGE, 0)
        items = f"the {plural(total, 'active run')} here"
        return check_page(
            "status", word, size=STATUS_PAGE, total=total, newest_first=False, items=items
        )

    page, active = await runs.active_page(runtime, request.team_id, request.channel_id, choose)
    if not active:
        return Reply("No active runs in this channel. `/baton list` shows the workflows to run.")
    projections = await forecast_runs(runtime, request.team_id, active)
    now = runtime.clock.now()
    entries = [
        _status_entry(runtime, item, eta_suffix(projections.get(item.run.id or 0), now))
        for item in active
    ]
    heading = "*Active runs here*" + (f" · {page.span()}" if page.count > 1 else "")
    # A page always fits (STATUS_PAGE entries of at most LINE_TEXT each), so `more` is a guard.
    more = "…and {} more active runs here: `/baton status &lt;run-id&gt;` shows one.".format
    blocks = listing(entries, len(entries), str, more, max_blocks=MESSAGE_BLOCKS, heading=heading)
    lines = [heading, *entries]
    if page.following:
        nav = f"`/baton status {page.number + 1}` shows the next {page.following}."
        blocks.append(context(nav))
        lines.append(nav)
    return Reply(fallback("\n".join(lines), heading), checked(blocks))


def _status_run_key(word: str) -> str:
    if RUN_KEY_RE.fullmatch(word.lower()) is None:
        raise usage_error(
            "status",
            f"{quoted(word)} is neither a run id (they look like `onboarding-3`) nor a page "
            "number.",
        )
    return word.lower()


async def _run_status(runtime: Runtime, request: SlashRequest, key: str) -> Reply:
    locked = await runs.get_run(runtime, request.team_id, key)
    now = runtime.clock.now()
    text, blocks = run_card(runtime.templates, locked.run, locked.steps, now)
    projection = (await forecast_runs(runtime, request.team_id, [locked])).get(locked.run.id or 0)
    if projection is not None and len(blocks) < MESSAGE_BLOCKS:
        blocks = [*blocks, context(projection_line(projection, locked.run.deadline, now))]
    return Reply(text, blocks)


def _at_most(command: str, args: list[str], count: int) -> None:
    if len(args) > count:
        raise usage_error(command, f"{quoted(args[count])} is one word too many.")


def _status_entry(runtime: Runtime, item: LockedRun, eta: str) -> str:
    """A run and its first open steps, in at most one listing line's worth of text (so none
    is ever cut), ending in a blank line; what does not fit is counted."""
    key = item.run.key
    open_steps = [s for s in item.steps if s.state in OPEN_STATES]
    lines = [f"*{item.run.title}* · `{key}`{eta}"]
    room = LINE_TEXT - 80 - len(lines[0])  # 80: the count of steps left out, and the blank
    for line in step_lines(runtime.templates, open_steps[:STATUS_STEPS]):
        room -= len(line) + 1
        if room < 0:
            break
        lines.append(line)
    left = len(open_steps) - (len(lines) - 1)
    if left:
        lines.append(f"…and {plural(left, 'more open step')}: `/baton status {key}`")
    return "\n".join(lines) + "\n"


async def mine(runtime: Runtime, request: SlashRequest) -> Reply:
    found = await plate(runtime, request.team_id, request.user_id)
    text, blocks = mine_message(runtime.templates, found, request.user_id)
    return Reply(text, blocks)


async def cancel(runtime: Runtime, request: SlashRequest, actor: Actor) -> Reply:
    key, _, reason = request.command.rest.partition(" ")
    if not key:
        raise usage_error("cancel", "Which run? Give its id, e.g. `onboarding-3`.")
    cancelled = await runs.cancel_run(runtime, actor, check_run_key("cancel", key), reason.strip())
    return Reply(f"Cancelled `{cancelled.key}`.")


async def history(runtime: Runtime, request: SlashRequest) -> Reply:
    args = request.command.args
    if not args:
        raise usage_error("history", "Which run? Give its id, e.g. `onboarding-3`.")
    _at_most("history", args, 2)
    key = check_run_key("history", args[0])
    word = args[1] if len(args) > 1 else None

    def choose(total: int) -> Page:
        items = f"the {plural(total, 'event')} of `{key}`"
        return check_page(
            "history", word, size=HISTORY_PAGE, total=total, newest_first=True, items=items
        )

    run, page, events = await runs.history(runtime, request.team_id, key, choose)
    lines = [history_line(event) for event in events]
    heading = f"*History of `{run.key}`*" + (f" · events {page.span()}" if page.count > 1 else "")
    # A page always fits (HISTORY_PAGE lines of at most LINE_TEXT each), so `more` is a guard.
    more = "…and {} more".format
    blocks = listing(lines, len(lines), str, more, max_blocks=MESSAGE_BLOCKS, heading=heading)
    if nav := _history_nav(run.key, page):
        blocks.append(context(nav))
    events_shown = f"events {page.span()}" if page.count > 1 else plural(page.total, "event")
    return Reply(f"History of `{run.key}`: {events_shown}.", checked(blocks))


def _history_nav(key: str, page: Page) -> str:
    """Where the events before and after this page are."""
    parts = []
    if page.following:
        before = plural(page.following, "event")
        parts.append(f"`/baton history {key} {page.number + 1}` shows the {before} before these")
    if page.number > 1:
        after = plural(page.size, "event")
        parts.append(f"`/baton history {key} {page.number - 1}` the {after} after them")
    return "; ".join(parts) + "." if parts else ""


def _step_verb(action: StepAction, needs_reason: bool = False) -> Subcommand:
    name = action.value

    async def verb(runtime: Runtime, request: SlashRequest, step: StepRef, actor: Actor) -> Reply:
        rest = " ".join(split_words(request.command.rest)[2:]).strip()  # after <run-id> <step>
        change = StepChange(action)
        if needs_reason:
            if not rest:
                example = f"/baton {name} {escape(step.run)} {escape(step.step)} &lt;reason&gt;"
                raise usage_error(name, f"Say why: `{example}`.")
            change = StepChange(action, reason=rest)
        elif action == StepAction.REASSIGN:
            found = USER.fullmatch(rest)
            if found is None:
                raise usage_error(name, _reassign_problem(rest))
            change = StepChange(action, new_assignee=found.group(1))
        changed = await change_step(runtime, actor, step.run, step.step, change)
        return Reply(changed.message)

    return verb


def _reassign_problem(rest: str) -> str:
    """What is wrong with the `@user` part of `reassign`."""
    words = rest.split()
    if not words:
        return "Who should take it? Mention them: `@someone`."
    if USER.fullmatch(words[0]) is None:
        return f"{quoted(words[0])} is not a person: mention one with `@`, e.g. `@someone`."
    extra = quoted(" ".join(words[1:]))
    return f"Give just the one person, with nothing after them ({extra} is extra)."


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
