"""Workflows and runs as a team uses them, over real HTTP against the Slack emulator."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from storage.db import session_factory, unit_of_work
from storage.models import AuditEvent
from tests.messages import labels
from tests.stack import Stack
from tests.workflows import start_onboarding


# SPEC section 2's onboarding workflow, as Slack delivers it with should_escape: true.
async def test_onboarding_runs_from_define_to_reject(stack: Stack) -> None:
    await start_onboarding(stack)
    assert "0/5 done" in stack.card().text

    # Only docs is ready: Alice gets a DM with the step's buttons.
    docs_dm = stack.last_dm("U0ALICE")
    assert "Collect signed documents" in docs_dm.text
    assert labels(docs_dm) == ["Start", "Done", "Blocked…", "Reassign…"]
    assert stack.emulator.dm("U0BOB") == []

    await stack.click(docs_dm, "U0ALICE", "Done")
    redrawn = stack.emulator.message(docs_dm.channel, docs_dm.ts)
    assert redrawn is not None and redrawn.buttons == []
    assert "Done by <@U0ALICE>" in str(redrawn.blocks)
    assert "1/5 done" in stack.card().text

    # The group step goes to every member of @it-team with Claim.
    bob_dm, carol_dm = stack.last_dm("U0BOB"), stack.last_dm("U0CAROL")
    assert labels(bob_dm) == ["Claim"] and labels(carol_dm) == ["Claim"]
    await stack.click(bob_dm, "U0BOB", "Claim")
    bob_now = stack.emulator.message(bob_dm.channel, bob_dm.ts)
    carol_now = stack.emulator.message(carol_dm.channel, carol_dm.ts)
    assert bob_now is not None and carol_now is not None
    assert "Done" in labels(bob_now)
    assert carol_now.buttons == [] and "Claimed by <@U0BOB>" in str(carol_now.blocks)
    await stack.click(bob_now, "U0BOB", "Done")

    # The join waits for the hook branch too.
    steps = await stack.steps("onboarding-1")
    assert steps["laptop"].state == "done"
    assert steps["lunch"].state == "waiting"
    assert stack.emulator.dm("U0DAVE") == []

    await stack.command("skip onboarding-1 accounts", user="U0ALICE")
    lunch_dm = stack.last_dm("U0DAVE")
    assert "Welcome lunch" in lunch_dm.text
    await stack.click(lunch_dm, "U0DAVE", "Done")

    signoff_dm = stack.last_dm("U0DAVE")
    assert labels(signoff_dm) == ["Approve", "Reject…"]
    await stack.click(signoff_dm, "U0DAVE", "Reject…")
    modal = stack.emulator.open_view("U0DAVE")
    assert modal is not None and modal.spec["callback_id"] == "step_reject_reason"
    # An empty reason keeps the modal open with an inline error.
    response = await stack.driver.submit_view(modal, user="U0DAVE", values={"reason": {"text": ""}})
    assert stack.driver.view_errors(response) == {"reason": "Please say why."}
    await stack.driver.submit_view(
        modal, user="U0DAVE", values={"reason": {"text": "Missing the <!channel> tax form"}}
    )
    await stack.settle()

    steps = await stack.steps("onboarding-1")
    assert steps["signoff"].state == "failed"
    assert steps["signoff"].outcome_note == "Missing the <!channel> tax form"
    final = stack.card()
    assert "Failed after" in final.text
    thread = stack.emulator.thread("C0GENERAL", final.ts)
    texts = [reply.text for reply in thread]
    assert any("Rejected `signoff`" in text for text in texts)
    # What Dave typed is shown escaped: it cannot ping the channel.
    assert all("<!channel>" not in text for text in texts)
    assert any("&lt;!channel&gt;" in text for text in texts)
    owner_dm = stack.last_dm("U0ALICE")
    assert "onboarding-1" in owner_dm.text and "failed" in owner_dm.text


async def test_approval_completes_the_run_and_the_card_says_how_long(stack: Stack) -> None:
    await start_onboarding(stack)
    await stack.click(stack.last_dm("U0ALICE"), "U0ALICE", "Done")
    await stack.click(stack.last_dm("U0CAROL"), "U0CAROL", "Claim")
    stack.clock.advance(timedelta(hours=26))
    await stack.click(stack.last_dm("U0CAROL"), "U0CAROL", "Done")
    await stack.command("skip onboarding-1 accounts", user="U0ALICE")
    await stack.click(stack.last_dm("U0DAVE"), "U0DAVE", "Done")
    await stack.click(stack.last_dm("U0DAVE"), "U0DAVE", "Approve")

    final = stack.card()
    assert "Completed in 1d 2h" in final.text
    steps = await stack.steps("onboarding-1")
    assert {s.state for s in steps.values()} == {"done", "skipped"}
    # Every change edited the one card in place.
    assert len([m for m in stack.emulator.messages("C0GENERAL") if not m.is_reply]) == 1
    assert len(stack.emulator.calls_to("chat.update")) >= 6


async def test_double_click_retry_and_stranger_change_nothing(stack: Stack) -> None:
    await start_onboarding(stack)
    docs_dm = stack.last_dm("U0ALICE")

    # Bob posts the very payload of Alice's button: refused, politely.
    await stack.click(docs_dm, "U0BOB", "Done")
    assert "is for <@U0ALICE>" in stack.ephemeral("U0BOB")
    assert (await stack.steps("onboarding-1"))["docs"].state == "ready"

    stale = docs_dm.snapshot()  # the message as Alice's client still shows it
    await stack.click(docs_dm, "U0ALICE", "Done")
    # Slack retries the same request: the step is done once.
    retried = await stack.driver.replay(retry_num=1)
    assert retried.status_code == 200
    await stack.settle()
    # A second click on the stale message.
    await stack.click(stale, "U0ALICE", "Done")
    assert "already done" in stack.ephemeral("U0ALICE")

    sessions = session_factory(stack.baton.runtime.engine)
    async with unit_of_work(sessions) as session:
        done_events = (
            await session.exec(select(AuditEvent).where(AuditEvent.action == "step.done"))
        ).all()
    assert len(done_events) == 1
    # The it-team members were told once each.
    assert len(stack.emulator.dm("U0BOB")) == 1


async def test_editing_a_workflow_mid_run_leaves_the_run_alone(stack: Stack) -> None:
    await start_onboarding(stack)
    await stack.command(
        "define onboarding Onboard v2\ndocs: Only documents <@U0BOB|bob>", user="U0ALICE"
    )
    assert "Saved version 2 of `onboarding`" in stack.ephemeral("U0ALICE")
    await stack.click(stack.last_dm("U0ALICE"), "U0ALICE", "Done")
    steps = await stack.steps("onboarding-1")
    assert set(steps) == {"docs", "laptop", "accounts", "lunch", "signoff"}
    assert steps["laptop"].state == "ready"
    await stack.command("run onboarding", user="U0ALICE")
    assert set(await stack.steps("onboarding-2")) == {"docs"}


async def test_only_editors_may_redefine_and_cancel(stack: Stack) -> None:
    await start_onboarding(stack)
    await stack.command("define onboarding Mine now\ndocs: x <@U0BOB|bob>", user="U0BOB")
    assert "Only the owner of `onboarding`" in stack.ephemeral("U0BOB")
    await stack.command("cancel onboarding-1", user="U0BOB")
    assert "may cancel `onboarding-1`" in stack.ephemeral("U0BOB")
    await stack.command("cancel onboarding-1 hire withdrew", user="U0ALICE")
    assert "Cancelled `onboarding-1`" in stack.ephemeral("U0ALICE")
    assert "Cancelled: hire withdrew" in stack.card().text
    docs_dm = stack.last_dm("U0ALICE")
    assert docs_dm.buttons == []


async def test_a_step_reassigned_back_leaves_one_live_message(stack: Stack) -> None:
    await start_onboarding(stack)
    first = stack.last_dm("U0ALICE")
    await stack.command("reassign onboarding-1 docs <@U0CAROL|carol>", user="U0ALICE")
    await stack.command("reassign onboarding-1 docs <@U0ALICE|alice>", user="U0ALICE")
    await stack.settle()

    dms = [m for m in stack.emulator.dm("U0ALICE") if "Collect signed documents" in m.text]
    assert len(dms) == 2 and dms[0].ts == first.ts
    old, new = dms
    assert old.buttons == []
    assert "This step moved on: the newer message about it has its buttons." in str(old.blocks)
    assert labels(new) == ["Start", "Done", "Blocked…", "Reassign…"]
    # The old message stays as it is when the step changes; the new one shows the outcome.
    await stack.click(new, "U0ALICE", "Done")
    redrawn = stack.emulator.message(old.channel, old.ts)
    assert redrawn is not None and redrawn.buttons == [] and "moved on" in str(redrawn.blocks)
    done = stack.emulator.message(new.channel, new.ts)
    assert done is not None and "Done by <@U0ALICE>" in str(done.blocks)


async def test_block_unblock_and_reassign_from_the_dm(stack: Stack) -> None:
    await start_onboarding(stack)
    docs_dm = stack.last_dm("U0ALICE")
    await stack.click(docs_dm, "U0ALICE", "Blocked…")
    await stack.driver.submit_view(user="U0ALICE", values={"reason": {"text": "Waiting on HR"}})
    await stack.settle()
    now = stack.emulator.message(docs_dm.channel, docs_dm.ts)
    assert now is not None
    assert labels(now) == ["Unblock", "Reassign…"]
    assert "Blocked: Waiting on HR" in str(now.blocks)
    assert "blocked: _Waiting on HR_" in str(stack.card().blocks)

    await stack.click(now, "U0ALICE", "Unblock")
    await stack.click(now, "U0ALICE", "Reassign…")
    modal = stack.emulator.open_view("U0ALICE")
    assert modal is not None and modal.spec["callback_id"] == "step_reassign_to"
    await stack.driver.select(modal, "U0CAROL")
    await stack.driver.submit_view(modal, user="U0ALICE")
    await stack.settle()

    steps = await stack.steps("onboarding-1")
    assert steps["docs"].assignee_id == "U0CAROL"
    carol_dm = stack.last_dm("U0CAROL")
    assert "Collect signed documents" in carol_dm.text
    assert labels(carol_dm) == ["Start", "Done", "Blocked…", "Reassign…"]
    old = stack.emulator.message(docs_dm.channel, docs_dm.ts)
    assert old is not None and old.buttons == []
    assert "Reassigned to <@U0CAROL>" in str(old.blocks)
    # Alice no longer holds it.
    await stack.command("done onboarding-1 docs", user="U0ALICE")
    assert "is for <@U0CAROL>" in stack.ephemeral("U0ALICE")
    await stack.command("done onboarding-1 docs", user="U0CAROL")
    assert "Done: `docs`" in stack.ephemeral("U0CAROL")
