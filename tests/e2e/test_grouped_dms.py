"""Parallel steps ready for one person at once arrive as one DM (issue 15), through the Slack
stack over HTTP, on both backends: one message with a section and buttons per step, redrawn
whole when any of its steps changes; at most 8 steps a message."""

from __future__ import annotations

from sqlmodel import col, select

from bot.slack_emulator import Message
from storage.db import unit_of_work
from storage.models import StepMessage
from tests.stack import Stack

# Three steps of alice's and one of bob's, all ready at once; then a join.
PARALLEL = """define launch Launch day
copy: Write the copy <@U0ALICE|alice> due 1d
images: Pick the images <@U0ALICE|alice>
legal: Legal check <@U0ALICE|alice> approval
press: Call the press <@U0BOB|bob>
go: Go live <@U0CAROL|carol> after copy, images, legal, press"""

TASK_BUTTONS = ["Start", "Done", "Blocked…", "Reassign…"]


async def message_rows(stack: Stack) -> list[StepMessage]:
    async with unit_of_work(stack.baton.runtime.sessions) as session:
        return list((await session.exec(select(StepMessage).order_by(col(StepMessage.id)))).all())


def buttons_by_step(message: Message) -> dict[str, list[str]]:
    """Each step's button labels, by the step its buttons act on (their block names it)."""
    found: dict[str, list[str]] = {}
    for ref in message.buttons:
        step = ref.block_id.rsplit(":", 1)[-1]
        found.setdefault(step, []).append(ref.element["text"]["text"])
    return found


def sections(message: Message) -> list[str]:
    return [block["text"]["text"] for block in message.blocks if block["type"] == "section"]


async def test_parallel_steps_for_one_person_come_as_one_dm(stack: Stack) -> None:
    await stack.command(PARALLEL, user="U0DAVE")
    await stack.command("run launch", user="U0DAVE")

    alice = stack.emulator.dm("U0ALICE")
    assert len(alice) == 1
    grouped = alice[0]
    assert grouped.text == "3 steps of launch-1 are ready for you"
    heading, *items = sections(grouped)
    assert heading.startswith("*3 steps of `launch-1` are ready for you*\nRun `launch-1`")
    assert [item.split("\n")[0].split(" · ")[0] for item in items] == [
        "*Your step:* Write the copy",
        "*Your step:* Pick the images",
        "*Approval needed:* Legal check",
    ]
    assert " · due " in items[0]  # each step keeps its own details
    assert buttons_by_step(grouped) == {
        "copy": TASK_BUTTONS,
        "images": TASK_BUTTONS,
        "legal": ["Approve", "Reject…"],
    }
    # Bob's single step gets the message a single step always got.
    bob = stack.emulator.dm("U0BOB")
    assert len(bob) == 1
    assert bob[0].text == "Your step: Call the press (launch-1)"
    assert buttons_by_step(bob[0]) == {"press": TASK_BUTTONS}
    # One row per step, the three naming alice's one message.
    rows = await message_rows(stack)
    steps = await stack.steps("launch-1")
    keys = {step.id: key for key, step in steps.items()}
    shown = {keys[row.step_run_id]: (row.user_id, row.ts) for row in rows}
    assert shown == {
        "copy": ("U0ALICE", grouped.ts),
        "images": ("U0ALICE", grouped.ts),
        "legal": ("U0ALICE", grouped.ts),
        "press": ("U0BOB", bob[0].ts),
    }

    # Done on the second step, in the grouped message.
    updates = len(stack.emulator.calls_to("chat.update"))
    response = await stack.driver.click(
        grouped, user="U0ALICE", block_id="step:launch-1:images", text="Done"
    )
    assert response.status_code == 200
    await stack.settle()

    steps = await stack.steps("launch-1")
    assert steps["images"].state == "done"
    assert steps["images"].outcome_by == "U0ALICE"
    assert steps["copy"].state == "ready" and steps["legal"].state == "ready"
    redraws = [
        call
        for call in stack.emulator.calls_to("chat.update")[updates:]
        if call.params.get("ts") == grouped.ts
    ]
    assert redraws and all(call.ok for call in redraws)
    assert len(stack.emulator.dm("U0ALICE")) == 1  # redrawn, nothing new posted
    redrawn = stack.emulator.dm("U0ALICE")[0]
    assert buttons_by_step(redrawn) == {"copy": TASK_BUTTONS, "legal": ["Approve", "Reject…"]}
    heading, *items = sections(redrawn)
    assert heading.startswith("*3 steps of `launch-1` for you: 2 still open*")
    assert any(item.startswith("✅ Done by <@U0ALICE> at ") for item in items)
    assert "Pick the images" in items[1]


async def test_the_first_click_in_a_grouped_dm_acts_on_its_own_step(stack: Stack) -> None:
    await stack.command(PARALLEL, user="U0DAVE")
    await stack.command("run launch", user="U0DAVE")
    grouped = stack.emulator.dm("U0ALICE")[0]

    response = await stack.driver.click(grouped, user="U0ALICE", text="Approve")
    assert response.status_code == 200
    await stack.settle()

    steps = await stack.steps("launch-1")
    assert steps["legal"].state == "done"
    assert steps["copy"].state == steps["images"].state == "ready"
    redrawn = stack.emulator.dm("U0ALICE")[0]
    assert buttons_by_step(redrawn) == {"copy": TASK_BUTTONS, "images": TASK_BUTTONS}
    assert any(item.startswith("✅ Approved by <@U0ALICE>") for item in sections(redrawn))


async def test_nine_parallel_steps_come_as_eight_and_one(stack: Stack) -> None:
    lines = "\n".join(f"s{n}: Sort box {n} <@U0ALICE|alice>" for n in range(1, 10))
    await stack.command(f"define boxes Sort the boxes\n{lines}", user="U0DAVE")
    await stack.command("run boxes", user="U0DAVE")

    alice = stack.emulator.dm("U0ALICE")
    assert len(alice) == 2
    first, last = alice
    assert first.text == "8 steps of boxes-1 are ready for you"
    assert list(buttons_by_step(first)) == [f"s{n}" for n in range(1, 9)]
    assert len(first.blocks) <= 50
    assert last.text == "Your step: Sort box 9 (boxes-1)"
    assert buttons_by_step(last) == {"s9": TASK_BUTTONS}
    rows = await message_rows(stack)
    assert [row.ts for row in rows] == [first.ts] * 8 + [last.ts]

    # Done on box 9 redraws its own message only; the eight keep their buttons.
    response = await stack.driver.click(last, user="U0ALICE", text="Done")
    assert response.status_code == 200
    await stack.settle()
    first, last = stack.emulator.dm("U0ALICE")
    assert not last.buttons
    assert list(buttons_by_step(first)) == [f"s{n}" for n in range(1, 9)]


async def test_a_step_sent_again_leaves_the_rest_of_its_group_alone(stack: Stack) -> None:
    await stack.command(PARALLEL, user="U0DAVE")
    await stack.command("run launch", user="U0DAVE")
    # The owner reassigns `copy` to bob and back: alice gets a new message for it; the
    # grouped one keeps the other two steps' buttons and shows `copy` as moved on.
    await stack.command("reassign launch-1 copy <@U0BOB|bob>", user="U0DAVE")
    await stack.command("reassign launch-1 copy <@U0ALICE|alice>", user="U0DAVE")

    grouped, again = stack.emulator.dm("U0ALICE")
    assert buttons_by_step(again) == {"copy": TASK_BUTTONS}
    assert buttons_by_step(grouped) == {"images": TASK_BUTTONS, "legal": ["Approve", "Reject…"]}
    assert "This step moved on" in str(grouped.blocks)
    assert "Write the copy" in str(grouped.blocks)

    # A later change of another step redraws the group, `copy` still moved on.
    await stack.command("done launch-1 images", user="U0ALICE")
    grouped = stack.emulator.dm("U0ALICE")[0]
    assert buttons_by_step(grouped) == {"legal": ["Approve", "Reject…"]}
    assert "This step moved on" in str(grouped.blocks)
