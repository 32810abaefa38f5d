"""The run card, the step messages and the lines of a run's thread."""

from __future__ import annotations

from datetime import datetime

from bot.ids import ActionId, StepRef
from bot.progress import format_span
from bot.render.blocks import Block, context, divider, section, sections_from_lines, step_buttons
from bot.slack_text import escape, group_mention, mention, when
from bot.states import RunState, StepState
from storage.models import Run, StepRun

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
STATE_WORDS = {
    StepState.WAITING: "waiting",
    StepState.READY: "ready",
    StepState.IN_PROGRESS: "in progress",
    StepState.BLOCKED: "blocked",
    StepState.DONE: "done",
    StepState.SKIPPED: "skipped",
    StepState.FAILED: "failed",
    StepState.CANCELLED: "cancelled",
}


def progress_bar(done: int, total: int, width: int = 10) -> str:
    filled = round(width * done / total) if total else width
    return "▰" * filled + "▱" * (width - filled)


def assignee_text(step: StepRun) -> str:
    if step.kind == "hook":
        return f"hook `{step.hook}`"
    if step.kind == "wait":
        return "timer"
    if step.assignee_kind == "group" and step.assignee_id:
        claimed = f" (claimed by {mention(step.claimed_by)})" if step.claimed_by else ""
        return group_mention(step.assignee_id) + claimed
    return mention(step.assignee_id)


def step_line(step: StepRun) -> str:
    state = StepState(step.state)
    parts = [f"{STATE_ICONS[state]} `{step.step_key}` {step.title}", assignee_text(step)]
    if step.due_at and state in (StepState.READY, StepState.IN_PROGRESS, StepState.BLOCKED):
        parts.append(f"due {when(step.due_at)}")
    if state == StepState.BLOCKED and step.blocked_reason:
        parts.append(f"blocked: _{escape(step.blocked_reason)}_")
    if state not in (StepState.READY, StepState.IN_PROGRESS, StepState.BLOCKED):
        parts.append(STATE_WORDS[state])
    return " · ".join(parts)


def run_summary(run: Run, steps: list[StepRun]) -> str:
    done = sum(1 for s in steps if s.state in (StepState.DONE, StepState.SKIPPED))
    return f"{progress_bar(done, len(steps))} {done}/{len(steps)} done"


def run_card(run: Run, steps: list[StepRun], now: datetime) -> tuple[str, list[Block]]:
    state = RunState(run.state)
    head = f"*{run.title}* · `{run.key}`"
    took = (run.finished_at or now) - run.created_at
    status = {
        RunState.ACTIVE: run_summary(run, steps),
        RunState.COMPLETED: f"✅ Completed in {format_span(took)}",
        RunState.CANCELLED: "🚫 Cancelled" + (f": {escape(run.reason)}" if run.reason else ""),
        RunState.FAILED: f"❌ Failed after {format_span(took)}",
    }[state]
    blocks: list[Block] = [section(f"{head}\n{status}")]
    blocks += sections_from_lines(
        [step_line(step) for step in steps],
        max_blocks=45,
        more="…and {n} more steps: `/baton status " + run.key + "`",
    )
    deadline = f" · deadline {when(run.deadline)}" if run.deadline else ""
    blocks.append(
        context(f"Owner {mention(run.owner_id)} · started {when(run.created_at)}{deadline}")
    )
    text = f"{run.title} ({run.key}): {status}"
    return text, blocks


def _buttons_for(step: StepRun, viewer: str) -> list[tuple[str, ActionId, str | None]]:
    state = StepState(step.state)
    if step.assignee_kind == "group" and step.claimed_by is None and state == StepState.READY:
        return [("Claim", ActionId.CLAIM, "primary")]
    if step.claimed_by and step.claimed_by != viewer:
        return []
    if step.kind == "approval" and state in (StepState.READY, StepState.IN_PROGRESS):
        return [("Approve", ActionId.APPROVE, "primary"), ("Reject…", ActionId.REJECT, "danger")]
    if state == StepState.READY:
        return [
            ("Start", ActionId.START, None),
            ("Done", ActionId.DONE, "primary"),
            ("Blocked…", ActionId.BLOCK, None),
            ("Reassign…", ActionId.REASSIGN, None),
        ]
    if state == StepState.IN_PROGRESS:
        return [
            ("Done", ActionId.DONE, "primary"),
            ("Blocked…", ActionId.BLOCK, None),
            ("Reassign…", ActionId.REASSIGN, None),
        ]
    if state == StepState.BLOCKED:
        return [("Unblock", ActionId.UNBLOCK, "primary"), ("Reassign…", ActionId.REASSIGN, None)]
    return []


def outcome_text(step: StepRun) -> str:
    state = StepState(step.state)
    at = f" at {when(step.finished_at, '{time}')}" if step.finished_at else ""
    by = f" by {mention(step.outcome_by)}" if step.outcome_by else ""
    note = f": _{escape(step.outcome_note)}_" if step.outcome_note else ""
    words = {
        StepState.DONE: "Approved" if step.kind == "approval" else "Done",
        StepState.SKIPPED: "Skipped",
        StepState.FAILED: "Rejected" if step.kind == "approval" else "Failed",
        StepState.CANCELLED: "Cancelled with its run",
    }
    return f"{STATE_ICONS[state]} {words.get(state, STATE_WORDS[state])}{by}{at}{note}"


def step_message(run: Run, step: StepRun, viewer: str) -> tuple[str, list[Block]]:
    """A step as its assignee (or a group member) sees it, with the buttons they may press."""
    state = StepState(step.state)
    what = "Approval needed" if step.kind == "approval" else "Your step"
    due = f" · due {when(step.due_at)}" if step.due_at else ""
    lines = [
        f"*{what}:* {step.title}",
        f"Run `{run.key}` · {run.title} · owner {mention(run.owner_id)}{due}",
    ]
    if step.assignee_kind == "group" and step.assignee_id:
        lines.append(f"For {assignee_text(step)}")
    if step.delegated_from:
        lines.append(f"You have it because {mention(step.delegated_from)} is away.")
    blocks: list[Block] = [section("\n".join(lines))]
    buttons = _buttons_for(step, viewer)
    if state == StepState.BLOCKED and step.blocked_reason:
        blocks.append(context(f"⛔ Blocked: {escape(step.blocked_reason)}"))
    if state in (StepState.DONE, StepState.SKIPPED, StepState.FAILED, StepState.CANCELLED):
        blocks.append(section(outcome_text(step)))
    elif step.claimed_by and step.claimed_by != viewer:
        blocks.append(context(f"Claimed by {mention(step.claimed_by)}"))
    elif step.assignee_kind == "user" and step.assignee_id != viewer:
        blocks.append(context(f"Reassigned to {mention(step.assignee_id)}"))
        buttons = []
    elif state == StepState.IN_PROGRESS and step.started_at:
        blocks.append(context(f"🔨 Started {when(step.started_at)}"))
    if buttons:
        blocks.append(step_buttons(StepRef(run=run.key, step=step.step_key), buttons))
    return f"{what}: {step.title} ({run.key})", blocks


def step_list_blocks(items: list[tuple[Run, StepRun]], viewer: str, limit: int) -> list[Block]:
    """Several steps with their buttons (for `mine` and the App Home): at most `limit` steps,
    each at most four blocks, then "and N more"."""
    blocks: list[Block] = []
    for run, step in items[:limit]:
        _, message = step_message(run, step, viewer)
        blocks += [*message, divider()]
    if len(items) > limit:
        blocks.append(context(f"…and {len(items) - limit} more"))
    return blocks
