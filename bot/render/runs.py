"""The run card and the step messages: prose from `run_card.j2` and `step.j2`, laid out here as
Block Kit with the buttons each viewer may press."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.core.holders import holders
from bot.core.states import FINISHED_STATES, OPEN_STATES, StepAction, allowed_actions
from bot.people.permissions import SYSTEM_USER
from bot.render.blocks import (
    Block,
    checked,
    context,
    divider,
    fallback,
    listing,
    section,
    step_buttons,
)
from bot.slack.ids import ActionId, StepRef
from bot.slack.text import escape, format_span, group_mention, mention, when
from bot.templates import Macros, Mrkdwn, Templates
from storage.models import AuditEvent, Run, StepRun
from storage.vocabulary import AssigneeKind, StepState

CARD = "run_card.j2"
STEP = "step.j2"
CARD_STEP_BLOCKS = 45
# Steps in one grouped step message: each takes at most 4 blocks of the 50 (and readers
# take in about this many at a glance).
GROUP_STEPS = 8

STATE_ICONS = {
    StepState.WAITING: "⏳",
    StepState.READY: "🔔",
    StepState.IN_PROGRESS: "🔨",
    StepState.BLOCKED: "⛔",
    StepState.DONE: "✅",
    StepState.SKIPPED: "⏭️",
    StepState.FAILED: "❌",
    StepState.CANCELLED: "🚫",
}


def progress_bar(done: int, total: int, width: int = 10) -> str:
    filled = round(width * done / total) if total else width
    return "▰" * filled + "▱" * (width - filled)


# -- what templates see: Mrkdwn is ready Slack text (titles were escaped when stored) ---------


@dataclass(frozen=True, slots=True)
class RunView:
    key: str
    title: Mrkdwn
    state: str
    bar: str
    done: int
    total: int
    took: timedelta
    reason: str | None
    owner: Mrkdwn
    started: datetime
    deadline: datetime | None


@dataclass(frozen=True, slots=True)
class StepView:
    key: str
    title: Mrkdwn
    kind: str
    state: str
    icon: str
    open: bool
    hook: str | None
    group: Mrkdwn | None
    assignee: Mrkdwn
    claimed_by: Mrkdwn | None
    delegated_from: Mrkdwn | None
    due_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    blocked_reason: str | None
    outcome_by: Mrkdwn | None
    outcome_note: str | None


def _mention(user_id: str | None) -> Mrkdwn | None:
    return Mrkdwn(mention(user_id)) if user_id else None


def run_view(run: Run, steps: list[StepRun], now: datetime) -> RunView:
    done = sum(1 for s in steps if s.state in (StepState.DONE, StepState.SKIPPED))
    return RunView(
        key=run.key,
        title=Mrkdwn(run.title),
        state=run.state,
        bar=progress_bar(done, len(steps)),
        done=done,
        total=len(steps),
        took=(run.finished_at or now) - run.created_at,
        reason=run.reason,
        owner=Mrkdwn(mention(run.owner_id)),
        started=run.created_at,
        deadline=run.deadline,
    )


def step_view(step: StepRun) -> StepView:
    state = step.state
    group = step.assignee_id if step.assignee_kind == AssigneeKind.GROUP else None
    return StepView(
        key=step.step_key,
        title=Mrkdwn(step.title),
        kind=step.kind,
        state=state.value,
        icon=STATE_ICONS[state],
        open=state in OPEN_STATES,
        hook=step.hook,
        group=Mrkdwn(group_mention(group)) if group else None,
        assignee=Mrkdwn(mention(step.assignee_id)),
        claimed_by=_mention(step.claimed_by),
        delegated_from=_mention(step.delegated_from),
        due_at=step.due_at,
        started_at=step.started_at,
        finished_at=step.finished_at,
        blocked_reason=step.blocked_reason,
        outcome_by=_mention(step.outcome_by),
        outcome_note=step.outcome_note,
    )


# -- the run card -----------------------------------------------------------------------------


def run_card(
    templates: Templates, run: Run, steps: list[StepRun], now: datetime
) -> tuple[str, list[Block]]:
    card = templates.macros(CARD)
    view = run_view(run, steps, now)
    blocks: list[Block] = [section(card("heading", view))]
    blocks += listing(
        steps,
        len(steps),
        lambda step: card("step_line", step_view(step)),
        lambda n: card("more_steps", view, n),
        max_blocks=CARD_STEP_BLOCKS,
    )
    blocks.append(context(card("footer", view)))
    return fallback(card("fallback", view), escape(run.key)), blocks


def step_lines(templates: Templates, steps: Iterable[StepRun]) -> list[str]:
    """Steps as the run card lists them."""
    card = templates.macros(CARD)
    return [card("step_line", step_view(step)) for step in steps]


# -- a step's own message ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _RunPart:
    """What a step's message says of its run."""

    key: str
    title: Mrkdwn
    owner: Mrkdwn


# The buttons a step's message offers whoever holds it, in this order, when the state machine
# allows them (skip and retry are the owner's, on other messages). An approval's message asks
# for the decision alone while one can be made.
HOLDER_BUTTONS = (
    StepAction.START,
    StepAction.DONE,
    StepAction.UNBLOCK,
    StepAction.BLOCK,
    StepAction.REASSIGN,
)
DECISION_BUTTONS = (StepAction.APPROVE, StepAction.REJECT)
# The button that asks for each action (its label is the template's).
BUTTON_IDS: dict[StepAction, ActionId] = {
    StepAction.START: ActionId.START,
    StepAction.DONE: ActionId.DONE,
    StepAction.BLOCK: ActionId.BLOCK,
    StepAction.UNBLOCK: ActionId.UNBLOCK,
    StepAction.APPROVE: ActionId.APPROVE,
    StepAction.REJECT: ActionId.REJECT,
    StepAction.REASSIGN: ActionId.REASSIGN,
    StepAction.CLAIM: ActionId.CLAIM,
    StepAction.SKIP: ActionId.SKIP,
    StepAction.RETRY: ActionId.RETRY,
}
BUTTON_STYLES: dict[StepAction, str] = {
    StepAction.CLAIM: "primary",
    StepAction.DONE: "primary",
    StepAction.UNBLOCK: "primary",
    StepAction.APPROVE: "primary",
    StepAction.REJECT: "danger",
    StepAction.RETRY: "primary",
}


def _styled(actions: Iterable[StepAction]) -> list[tuple[ActionId, str | None]]:
    return [(BUTTON_IDS[action], BUTTON_STYLES.get(action)) for action in actions]


def _buttons_for(step: StepRun, viewer: str) -> list[tuple[ActionId, str | None]]:
    allowed = allowed_actions(step.kind, step.state)
    held = holders(step)
    if held.group and StepAction.CLAIM in allowed:  # a group member takes it first
        return _styled([StepAction.CLAIM])
    if step.claimed_by and step.claimed_by != viewer:
        return []
    if StepAction.APPROVE in allowed:
        return _styled(DECISION_BUTTONS)
    return _styled(action for action in HOLDER_BUTTONS if action in allowed)


def _step_message(macros: Macros, run: Run, step: StepRun, viewer: str) -> tuple[str, list[Block]]:
    view = step_view(step)
    run_part = _run_part(run)
    blocks = _step_blocks(macros, run, step, viewer, section(macros("body", view, run_part)))
    return fallback(macros("fallback", view, run_part), escape(run.key)), blocks


def _run_part(run: Run) -> _RunPart:
    return _RunPart(key=run.key, title=Mrkdwn(run.title), owner=Mrkdwn(mention(run.owner_id)))


def _step_blocks(macros: Macros, run: Run, step: StepRun, viewer: str, first: Block) -> list[Block]:
    """`first` (the step's own text), then its state and the buttons `viewer` may press."""
    state = step.state
    view = step_view(step)
    blocks: list[Block] = [first]
    buttons = _buttons_for(step, viewer)
    if state == StepState.BLOCKED and step.blocked_reason:
        blocks.append(context(macros("blocked", view)))
    if state in FINISHED_STATES:
        blocks.append(section(macros("outcome", view)))
    elif step.claimed_by and step.claimed_by != viewer:
        blocks.append(context(macros("claimed", view)))
    elif step.assignee_kind == AssigneeKind.USER and step.assignee_id != viewer:
        blocks.append(context(macros("reassigned", view)))
        buttons = []
    elif state == StepState.IN_PROGRESS and step.started_at:
        blocks.append(context(macros("started", view)))
    if buttons:
        labels = [(macros("button", action.value), action, style) for action, style in buttons]
        blocks.append(step_buttons(StepRef(run=run.key, step=step.step_key), labels))
    return blocks


def step_message(
    templates: Templates, run: Run, step: StepRun, viewer: str
) -> tuple[str, list[Block]]:
    """A step as its assignee (or a group member) sees it, with the buttons they may press."""
    return _step_message(templates.macros(STEP), run, step, viewer)


def moved_on_message(templates: Templates, run: Run, step: StepRun) -> tuple[str, list[Block]]:
    """An older message about a step that has since been sent again (a retry, or a reassign
    back): no buttons, so only the newer message acts on the step."""
    macros = templates.macros(STEP)
    view = step_view(step)
    run_part = _run_part(run)
    blocks: list[Block] = [
        section(macros("body", view, run_part)),
        context(macros("moved_on", view)),
    ]
    return fallback(macros("fallback", view, run_part), escape(run.key)), blocks


@dataclass(frozen=True, slots=True)
class _GroupPart:
    """What a grouped message's heading says: how many steps it shows, how many are open."""

    count: int
    open: int


def step_group_message(
    templates: Templates,
    run: Run,
    steps: Sequence[StepRun],
    viewer: str,
    moved_on: Collection[int] = (),
) -> tuple[str, list[Block]]:
    """Several steps of one run for one person in one message (at most GROUP_STEPS): a heading,
    then each step with its own buttons, as its single message would have them. The steps in
    `moved_on` were sent again in a newer message, which has their buttons."""
    macros = templates.macros(STEP)
    run_part = _run_part(run)
    still_open = sum(1 for step in steps if step.state not in FINISHED_STATES)
    group = _GroupPart(count=len(steps), open=still_open)
    blocks: list[Block] = [section(macros("heading", group, run_part))]
    for step in steps[:GROUP_STEPS]:
        first = section(macros("item", step_view(step)))
        if step.id in moved_on:
            blocks += [divider(), first, context(macros("moved_on", step_view(step)))]
        else:
            blocks += [divider(), *_step_blocks(macros, run, step, viewer, first)]
    text = macros("group_fallback", group, run_part)
    return fallback(text, escape(run.key)), checked(blocks)


def step_list_blocks(
    templates: Templates, items: list[tuple[Run, StepRun]], viewer: str, limit: int
) -> list[Block]:
    """Several steps with their buttons (for `mine` and the App Home): at most `limit` steps,
    each at most four blocks, then "and N more"."""
    macros = templates.macros(STEP)
    blocks: list[Block] = []
    for run, step in items[:limit]:
        _, message = _step_message(macros, run, step, viewer)
        blocks += [*message, divider()]
    if len(items) > limit:
        blocks.append(context(macros("more", len(items) - limit)))
    return blocks


# -- a run's history -----------------------------------------------------------------------------

# What each audit event on a run reads as: "{who}" is the person (or Baton), "{step}" the
# step's key in code. Events not listed here show their own name.
_HISTORY_PHRASES = {
    "run.started": "{who} started the run",
    "run.cancelled": "{who} cancelled the run",
    "step.start": "{who} started {step}",
    "step.done": "{who} marked {step} done",
    "step.block": "{who} marked {step} blocked",
    "step.unblock": "{who} unblocked {step}",
    "step.skip": "{who} skipped {step}",
    "step.retry": "{who} retried {step}",
    "step.approve": "{who} approved {step}",
    "step.reject": "{who} rejected {step}",
    "step.reassign": "{who} reassigned {step}",
    "step.claim": "{who} claimed {step}",
    "step.complete": "{step} finished",
    "step.fail": "{step} failed",
    "hook.accepted": "The integration of {step} accepted the call",
    "hook.retry": "{who} called the integration of {step} again",
}


def history_line(event: AuditEvent) -> str:
    """One event of `/baton history`, in words: "Dec 5 09:12 <@U1> marked `docs` done"."""
    actor = event.actor_id
    who = "Baton" if actor in (None, SYSTEM_USER) else mention(actor)
    step = f"`{escape(event.step_key)}`" if event.step_key else "a step"
    detail = event.detail
    if event.action in ("run.completed", "run.failed"):
        took = detail.get("took_seconds")
        span = f" in {format_span(timedelta(seconds=int(took)))}" if took is not None else ""
        text = f"Run {event.action.removeprefix('run.')}{span}"
    else:
        phrase = _HISTORY_PHRASES.get(event.action)
        text = phrase.format(who=who, step=step) if phrase else f"{who} {escape(event.action)}"
    if assignee := detail.get("assignee"):
        text += f" to {mention(str(assignee))}"
    if reason := detail.get("reason"):
        text += f": {escape(str(reason))}"
    return f"{when(event.created_at)} {text}"
