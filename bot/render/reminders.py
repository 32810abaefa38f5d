"""A person's reminder message: prose from `reminder.j2`, laid out here as Block Kit, with the
Snooze buttons and, for an escalation, what the run's owner can do about the step."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.render.blocks import Block, actions, button, context, fallback, listing, step_buttons
from bot.render.runs import StepView, step_view
from bot.slack.ids import MAX_SNOOZE_IDS, ActionId, StepRef, TimerRef
from bot.slack.text import escape
from bot.templates import Macros
from storage.models import Run, StepRun, Timer
from storage.vocabulary import TimerKind


@dataclass(frozen=True, slots=True)
class Due:
    timer: Timer
    step: StepRun
    run: Run


_ORDER = {TimerKind.ESCALATION: 0, TimerKind.REPEAT: 1, TimerKind.OVERDUE: 1, TimerKind.DUE_SOON: 2}


TEMPLATE = "reminder.j2"
# One message names at most this many reminders, then says how many more and where they are.
MAX_LINES = 25
ESCALATION_ACTIONS = 5  # escalated steps given their own buttons in one message


@dataclass(frozen=True, slots=True)
class ReminderView:
    """What `reminder.j2` sees of one reminder."""

    kind: str
    run_key: str
    due_at: datetime
    step: StepView
    working_days: int = 1  # an escalation: how many working days overdue


def reminder_message(macros: Macros, due: Sequence[Due]) -> tuple[str, list[Block]]:
    ordered = sorted(due, key=lambda d: (_ORDER[d.timer.kind], d.step.due_at or d.timer.due_at))
    views: list[ReminderView] = []
    shown: set[tuple[int | None, bool]] = set()
    for item in ordered:
        # One line per step (and per escalation): the most pressing of its reminders.
        key = (item.step.id, item.timer.kind == TimerKind.ESCALATION)
        if key not in shown:
            shown.add(key)
            views.append(_view(item))
    # An escalation reaches the run's owner: give them what they can do about the step.
    escalated = [d for d in ordered if d.timer.kind == TimerKind.ESCALATION]
    escalated = list({d.step.id: d for d in escalated}.values())[:ESCALATION_ACTIONS]
    blocks = listing(
        views,
        len(views),
        lambda view: macros("line", view),
        lambda n: macros("more", n),
        max_blocks=47 - 2 * len(escalated),
        max_lines=MAX_LINES,
        heading=macros("heading", len(views)),
    )
    blocks.append(context(macros("footer")))
    value = TimerRef(timers=[d.timer.id for d in ordered if d.timer.id][:MAX_SNOOZE_IDS]).encode()
    snoozes = [ActionId.SNOOZE_HOUR, ActionId.SNOOZE_TOMORROW]
    blocks.append(
        actions(
            [button(macros("button", action.value), action, value) for action in snoozes],
            block_id="reminder_snooze",
        )
    )
    for item in escalated:
        blocks.append(context(f"`{escape(item.run.key)}` · `{escape(item.step.step_key)}`:"))
        blocks.append(
            step_buttons(
                StepRef(run=item.run.key, step=item.step.step_key),
                [("Reassign…", ActionId.REASSIGN, None), ("Skip", ActionId.SKIP, None)],
            )
        )
    text = macros("fallback", views[0], len(views) - 1)
    return fallback(text, escape(views[0].run_key)), blocks


def _view(item: Due) -> ReminderView:
    return ReminderView(
        kind=item.timer.kind,
        run_key=item.run.key,
        due_at=item.step.due_at or item.timer.due_at,
        step=step_view(item.step),
        working_days=item.timer.attempt if item.timer.kind == TimerKind.ESCALATION else 1,
    )
