"""Delivery that keeps up, over real HTTP: what a person waits for (a step DM, an App Home) is
never held behind other messages, and redraws of one run card coalesce.

A slow Slack is the emulator holding calls of one method until the test releases them, so
nothing here depends on how long anything takes. These tests let Baton's own background
deliverer work (no `settle` before the assertion under test): `settle` delivers by itself
and would hide a deliverer that waits on a stuck batch."""

from __future__ import annotations

from sqlmodel import col, select

from bot.notify.payloads import Direct
from bot.work import Work
from storage.db import unit_of_work
from storage.models import Outbox, Run
from storage.vocabulary import Note
from tests.stack import Stack
from tests.workflows import CHAIN

# Two steps in a row, then a workflow of three side by side, all Alice's (one grouped DM).
TRIO = """define trio Three at once
one: Step one <@U0ALICE|alice>
two: Step two <@U0ALICE|alice>
three: Step three <@U0ALICE|alice>"""


async def test_a_step_dm_is_not_held_behind_a_slow_redraw(stack: Stack) -> None:
    await stack.command(CHAIN, user="U0ALICE")
    await stack.command("run chain", user="U0ALICE")
    assert "Started `chain-1`" in stack.ephemeral("U0ALICE")
    updates = len(stack.emulator.calls_to("chat.update"))
    slow = stack.emulator.hold("chat.update")

    # Start redraws the card and Alice's DM: Slack sits on both.
    first = stack.dm_for("alice", "First thing")
    await stack.click(first, "U0ALICE", "Start", deliver=False)
    await stack.emulator.wait_for(lambda: slow.waiting >= 1)
    # Done makes Bob's step ready: his DM goes while the redraws still wait.
    await stack.click(first, "U0ALICE", "Done", deliver=False)
    await stack.emulator.wait_for_call(
        "chat.postMessage", lambda call: call.params.get("channel") == "U0BOB"
    )
    assert "Second thing" in stack.dm_for("bob", "Second thing").text
    assert len(stack.emulator.calls_to("chat.update")) == updates

    slow.release()
    await stack.settle()
    assert "1/2 done" in stack.card().text
    assert len([m for m in stack.emulator.dm("bob") if "Second thing" in m.text]) == 1


async def test_redraws_of_one_card_coalesce_into_one_update(stack: Stack) -> None:
    await stack.command(TRIO, user="U0ALICE")
    await stack.command("run trio", user="U0ALICE")
    assert "0/3 done" in stack.card().text
    ts = stack.card().ts
    slow = stack.emulator.hold("chat.update", match={"channel": "C0GENERAL"})

    (dm,) = stack.emulator.dm("alice")  # the three steps in one message, each with buttons
    await stack.click(dm, "U0ALICE", "Start", block_id="step:trio-1:one", deliver=False)
    await stack.emulator.wait_for(lambda: slow.waiting == 1)
    # Four more changes to the run while its first redraw is on its way.
    await stack.click(dm, "U0ALICE", "Done", block_id="step:trio-1:one", deliver=False)
    await stack.click(dm, "U0ALICE", "Start", block_id="step:trio-1:two", deliver=False)
    await stack.click(dm, "U0ALICE", "Done", block_id="step:trio-1:two", deliver=False)
    await stack.click(dm, "U0ALICE", "Start", block_id="step:trio-1:three", deliver=False)

    slow.release()
    await stack.settle()
    redraws = [
        call
        for call in stack.emulator.calls_to("chat.update")
        if call.params.get("channel") == "C0GENERAL" and call.params.get("ts") == ts
    ]
    # The one in flight, then one with the latest state for the four queued behind it.
    assert len(redraws) == 2
    assert "2/3 done" in stack.card().text
    async with unit_of_work(stack.baton.runtime.sessions) as session:
        left = await session.exec(
            select(Outbox.id).where(
                col(Outbox.kind) == Note.RUN_CARD.value, col(Outbox.state) != "sent"
            )
        )
        assert left.all() == []


async def test_the_app_home_is_published_while_200_dms_wait(stack: Stack) -> None:
    await stack.command(CHAIN, user="U0ALICE")
    await stack.command("run chain", user="U0ALICE")
    people = ("U0ALICE", "U0BOB", "U0CAROL", "U0DAVE")
    async with unit_of_work(stack.baton.runtime.sessions) as session:
        run = (await session.exec(select(Run))).one()
        for n in range(200):
            person = people[n % len(people)]
            Work(session, stack.clock.now()).tell(
                team_id=run.team_id,
                conversation=person,
                note=Direct(user_id=person, text=f"Notice {n}"),
            )
    # Slack sits on the DMs: the first to each person waits, the rest queue behind them.
    slow = stack.emulator.hold("chat.postMessage")
    stack.baton.runtime.outbox_signal.set()
    await stack.emulator.wait_for(lambda: slow.waiting >= 1)

    response = await stack.driver.app_home_opened("alice")
    assert response.status_code == 200
    published = await stack.emulator.wait_for_call("views.publish")
    assert published.params.get("user_id") == "U0ALICE"
    assert "First thing" in str(published.params.get("view"))

    slow.release()
    await stack.settle()
    for i, person in enumerate(people):
        notices = [m.text for m in stack.emulator.dm(person) if m.text.startswith("Notice ")]
        assert notices == [f"Notice {n}" for n in range(i, 200, len(people))]


async def test_a_card_whose_answer_was_lost_in_a_channel_never_joined_is_posted_once(
    stack: Stack,
) -> None:
    general = stack.emulator.workspace().conversations["C0GENERAL"]
    bot = stack.emulator.workspace().bot_user_id
    assert bot not in general.members  # Baton posts there with chat:write.public alone
    await stack.command(CHAIN, user="U0ALICE")
    # Slack posts the card but answers 500: Baton cannot know the card is there.
    stack.emulator.fail(
        "chat.postMessage", status=500, match={"channel": "C0GENERAL"}, carried_out=True
    )
    await stack.command("run chain", user="U0ALICE")

    cards = [m for m in stack.emulator.messages("C0GENERAL") if not m.is_reply]
    assert len(cards) == 1
    assert "0/2 done" in cards[0].text
    assert bot in general.members  # it joined to read the history, and found its card there
    async with unit_of_work(stack.baton.runtime.sessions) as session:
        run = (await session.exec(select(Run))).one()
    assert run.card_ts == cards[0].ts
    # Later changes edit that one card.
    await stack.click(stack.dm_for("alice", "First thing"), "U0ALICE", "Done", deliver=False)
    await stack.settle()
    cards = [m for m in stack.emulator.messages("C0GENERAL") if not m.is_reply]
    assert len(cards) == 1 and "1/2 done" in cards[0].text
