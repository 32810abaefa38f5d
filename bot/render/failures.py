"""What a run's owner reads when steps fail: the run-failed message (each failed step with its
reason and what can be done), and the one for a step failing while other branches go on."""

from __future__ import annotations

from collections.abc import Sequence

from bot.core.states import StepAction, allowed_actions
from bot.render.blocks import Block, context, section, step_buttons
from bot.render.runs import BUTTON_IDS, BUTTON_STYLES
from bot.slack.ids import StepRef
from bot.slack.text import clip, escape
from storage.models import Run, StepRun
from storage.vocabulary import StepKind, StepState

# The owner's buttons on a failed step, in this order, as far as the state machine allows.
FAILED_BUTTONS = {StepAction.RETRY: "Retry", StepAction.SKIP: "Skip"}
# Failed steps a run-failed message details (each takes three blocks at most).
MAX_FAILED_SHOWN = 10


def failed_how(step: StepRun) -> str:
    """How a step failed, as the owner reads it: a rejection names who rejected it."""
    if step.kind == StepKind.APPROVAL and step.outcome_by:
        return f"was rejected by <@{step.outcome_by}>"
    return "failed"


def failed_step_blocks(run: Run, step: StepRun) -> list[Block]:
    """One failed step with its reason and its Retry and Skip buttons."""
    why = f": _{escape(clip(step.outcome_note, 500))}_" if step.outcome_note else ""
    blocks = [section(f"❌ `{step.step_key}` {step.title}{why}")]
    if step.kind == StepKind.HOOK:
        blocks.append(
            context("Retry calls the integration again; Skip moves the run on without this step.")
        )
    allowed = allowed_actions(step.kind, StepState.FAILED)
    labels = [
        (label, BUTTON_IDS[action], BUTTON_STYLES.get(action))
        for action, label in FAILED_BUTTONS.items()
        if action in allowed
    ]
    blocks.append(step_buttons(StepRef(run=run.key, step=step.step_key), labels))
    return blocks


def run_failed_message(run: Run, failed: Sequence[StepRun]) -> tuple[str, list[Block]]:
    """The owner's message when their run failed: why each step failed, and its buttons."""
    reasons = "; ".join(
        f"`{s.step_key}`" + (f": {escape(s.outcome_note)}" if s.outcome_note else "")
        for s in failed
    )
    text = f"Your run `{run.key}` ({run.title}) failed: {reasons}"
    blocks = [section(text)]
    for step in failed[:MAX_FAILED_SHOWN]:
        blocks.extend(failed_step_blocks(run, step))
    return text, blocks


def step_failed_message(run: Run, step: StepRun) -> tuple[str, list[Block]]:
    """The owner's message when a step failed while other branches are still open: the run
    fails once they finish unless the owner retries or skips the step."""
    why = f": {escape(clip(step.outcome_note, 500))}" if step.outcome_note else ""
    text = (
        f"`{step.step_key}` ({step.title}) in your run `{run.key}` ({run.title}) "
        f"{failed_how(step)}{why}"
    )
    blocks = [
        section(
            f"`{step.step_key}` in your run `{run.key}` ({run.title}) {failed_how(step)}. "
            "Its other branches go on; retry or skip this step, or the run fails once they finish."
        ),
        *failed_step_blocks(run, step),
    ]
    return text, blocks
