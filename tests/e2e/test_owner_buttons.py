"""The run owner's own messages with buttons, over real HTTP: the failed-step DM's Retry and
Skip are spent after a click (the message is redrawn with what was done), and an escalation
offers the step's owner actions, Reassign and Skip, besides Snooze."""

from __future__ import annotations

from bot.slack.ids import ActionId
from bot.slack_emulator.state import Message
from tests.messages import labels
from tests.stack import Stack, utc
from tests.workflows import start_fork, start_review


def latest(message: Message) -> str:
    """What the message shows now (the emulator keeps earlier versions in `edits`)."""
    assert message.edits, "the message was never redrawn"
    return message.render()


async def test_the_failed_step_dm_is_redrawn_without_buttons_after_skip(stack: Stack) -> None:
    await start_fork(stack)
    await stack.command("reject fork-1 review The terms changed", user="U0BOB")
    [dm] = stack.with_buttons("U0ALICE")
    assert labels(dm) == ["Retry", "Skip"]

    response = await stack.driver.click(dm, user="U0ALICE", text="Skip")
    assert response.status_code == 200
    await stack.settle()
    assert (await stack.steps("fork-1"))["review"].state == "skipped"
    assert dm.buttons == []  # the emulator's message as Slack shows it now
    shown = latest(dm)
    assert "Skipped by <@U0ALICE> at <!date^" in shown
    assert "The terms changed" in shown  # what the message said stays


async def test_retry_on_the_failed_run_dm_is_redrawn_too(stack: Stack) -> None:
    await start_fork(stack)
    await stack.command("done fork-1 order", user="U0CAROL")
    await stack.command("reject fork-1 review Too expensive", user="U0BOB")
    assert await stack.run_state("fork-1") == "failed"
    [dm] = stack.with_buttons("U0ALICE")
    await stack.driver.click(dm, user="U0ALICE", text="Retry")
    await stack.settle()
    assert await stack.run_state("fork-1") == "active"
    assert dm.buttons == []
    assert "Retried by <@U0ALICE>" in latest(dm)


async def test_an_escalation_offers_reassign_and_skip(stack: Stack) -> None:
    await start_review(stack)  # Dave owns it; Alice's step is due at 12:00 UTC
    await stack.walk(utc(24, 11))
    await stack.sweep_at(utc(24, 12))
    [escalation] = stack.reminders_for("U0DAVE")
    assert [ref.element["text"]["text"] for ref in escalation.buttons] == [
        "Snooze 1h",
        "Snooze until tomorrow",
        "Reassign…",
        "Skip",
    ]
    # Reassign opens the modal Dave picks someone in.
    await stack.driver.click(escalation, user="U0DAVE", action_id=ActionId.REASSIGN.value)
    await stack.settle()
    modal = stack.emulator.open_view("U0DAVE")
    assert modal is not None and modal.spec["callback_id"] == "step_reassign_to"
    await stack.driver.close_view(modal, user="U0DAVE")

    await stack.driver.click(escalation, user="U0DAVE", text="Skip")
    await stack.settle()
    assert await stack.run_state("review-1") == "completed"
    assert [ref.element["text"]["text"] for ref in escalation.buttons] == [
        "Snooze 1h",
        "Snooze until tomorrow",
    ]
    assert "Skipped by <@U0DAVE>" in latest(escalation)
