"""`/baton editors` and `/baton runners`, typed over real HTTP: who may change them, what the
database keeps, and the effect on who may edit and run.

The emulator's people: Alice and Carol are plain members, Dave is a workspace admin, Bob and
Carol make up the user group @it-team (S0ITTEAM).
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.slack_emulator.state import View
from tests.stack import Stack
from tests.workflows import UNTIMED_REVIEW


async def test_editors_are_listed_added_and_removed(stack: Stack) -> None:
    await stack.command(UNTIMED_REVIEW, user="U0ALICE")
    await stack.command("editors review", user="U0CAROL")
    assert "Editors: none besides the owner · Who may run it: anyone" in stack.ephemeral("U0CAROL")

    # Bob may not edit it yet, nor make himself an editor.
    await stack.command("editors review add <@U0BOB|bob>", user="U0BOB")
    assert "Only the owner of `review` (<@U0ALICE>), its editors" in stack.ephemeral("U0BOB")
    assert (await stack.workflow("review")).editors == []

    # Alice names Bob (a linked mention) and Carol (a plain @name).
    await stack.command("editors review add <@U0BOB|bob> @carol", user="U0ALICE")
    assert "Editors of `review` are now: <@U0BOB>, <@U0CAROL>." in stack.ephemeral("U0ALICE")
    assert (await stack.workflow("review")).editors == ["U0BOB", "U0CAROL"]
    await stack.command("show review", user="U0DAVE")
    assert "Editors: <@U0BOB>, <@U0CAROL> · Who may run it: anyone" in stack.ephemeral("U0DAVE")

    # Now Bob edits: he exports it and removes Carol.
    await stack.command("export review", user="U0BOB")
    assert "editors: [U0BOB, U0CAROL]" in stack.ephemeral("U0BOB")
    await stack.command("editors review remove @carol", user="U0BOB")
    assert "Editors of `review` are now: <@U0BOB>." in stack.ephemeral("U0BOB")
    row = await stack.workflow("review")
    assert (row.editors, row.latest_version) == (["U0BOB"], 1)
    await stack.command("export review", user="U0CAROL")
    assert "Only the owner of `review`" in stack.ephemeral("U0CAROL")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("editors", "Which workflow? Give its name."),
        ("editors review add", "Whom? Name one or more: @user"),
        ("editors review add @it-team", "@it-team is a user group; editors are people"),
        ("editors review add @nobody", "@nobody is not a person or user group in this workspace"),
        ("editors review add {manager}", "`{manager}` is not a person"),
        ("editors review anyone", "`anyone` is not something to do: write `add` or `remove`"),
        ("runners review drop @bob", "`drop` is not something to do: write `add`, `remove` or"),
        ("editors review add <b>x</b>", "`&lt;b&gt;x&lt;/b&gt;` is not a person"),
    ],
)
async def test_bad_access_commands_are_explained_and_change_nothing(
    stack: Stack, text: str, problem: str
) -> None:
    await stack.command(UNTIMED_REVIEW, user="U0ALICE")
    await stack.command(text, user="U0ALICE")
    reply = stack.ephemeral("U0ALICE")
    assert problem in reply
    assert "Usage: `/baton " in reply
    row = await stack.workflow("review")
    assert (row.editors, row.runners) == ([], [])


async def test_runners_are_added_removed_and_opened_to_anyone(stack: Stack) -> None:
    await stack.command(UNTIMED_REVIEW, user="U0ALICE")
    await stack.command(
        "runners review add <!subteam^S0ITTEAM|@it-team> <@U0DAVE|dave>", user="U0ALICE"
    )
    assert (
        "`review` may now be run by <!subteam^S0ITTEAM>, <@U0DAVE>, its owner, editors and admins."
        in stack.ephemeral("U0ALICE")
    )
    assert (await stack.workflow("review")).runners == ["S0ITTEAM", "U0DAVE"]

    # Carol is in @it-team; a runner may not change who runs it.
    await stack.command("run review", user="U0CAROL")
    assert "Started `review-1`" in stack.ephemeral("U0CAROL")
    await stack.command("runners review anyone", user="U0CAROL")
    assert "Only the owner of `review`" in stack.ephemeral("U0CAROL")

    await stack.command("runners review remove @it-team", user="U0ALICE")
    assert (await stack.workflow("review")).runners == ["U0DAVE"]
    await stack.command("run review", user="U0CAROL")
    assert "`review` may be run only by <@U0DAVE>" in stack.ephemeral("U0CAROL")
    assert await stack.run_keys() == [("review-1", "U0CAROL")]

    await stack.command("runners review anyone", user="U0ALICE")
    assert "`review` may now be run by anyone." in stack.ephemeral("U0ALICE")
    await stack.command("runners review", user="U0CAROL")
    assert "Who may run it: anyone" in stack.ephemeral("U0CAROL")
    await stack.command("run review", user="U0CAROL")
    assert await stack.run_keys() == [("review-1", "U0CAROL"), ("review-2", "U0CAROL")]


async def test_help_lists_the_access_commands(stack: Stack) -> None:
    await stack.command("help runners", user="U0ALICE")
    assert "/baton runners &lt;name&gt; [add|remove @user|@group ... | anyone]" in (
        stack.ephemeral("U0ALICE")
    )
    await stack.command("help editors", user="U0ALICE")
    assert "/baton editors &lt;name&gt; [add|remove @user ...]" in stack.ephemeral("U0ALICE")


# -- the builder modal -------------------------------------------------------------------------


def _inputs(modal: View) -> dict[str, dict[str, Any]]:
    return {b["block_id"]: b["element"] for b in modal.blocks if b.get("type") == "input"}


async def test_the_builder_sets_and_shows_editors_and_runners(stack: Stack) -> None:
    await stack.command("new deploy", user="U0ALICE")
    modal = stack.emulator.open_view("U0ALICE")
    assert modal is not None
    inputs = _inputs(modal)
    assert inputs["wf_editors"]["type"] == "multi_users_select"
    assert inputs["wf_runners"]["type"] == "multi_users_select"

    # A word in the groups box that is no user group: said inline, nothing saved.
    values: dict[str, Any] = {
        "wf_title": {"text": "Deploy"},
        "wf_steps": {"text": "ship: Ship it <@U0BOB|bob>"},
        "wf_editors": {"users": ["U0BOB"]},
        "wf_runners": {"users": ["U0DAVE"]},
        "wf_runner_groups": {"text": "@it-team, @alice"},
    }
    response = await stack.driver.submit_view(modal, user="U0ALICE", values=values)
    errors = stack.driver.view_errors(response)
    assert errors is not None
    assert "Not user groups in this workspace: @alice" in errors["wf_runner_groups"]
    assert await stack.run_keys() == []

    values["wf_runner_groups"] = {"text": "@it-team"}
    response = await stack.driver.submit_view(modal, user="U0ALICE", values=values)
    assert stack.driver.view_errors(response) is None
    await stack.settle()
    row = await stack.workflow("deploy")
    assert (row.editors, row.runners) == (["U0BOB"], ["U0DAVE", "S0ITTEAM"])
    await stack.command("run deploy", user="U0ALICE")  # Alice is no runner, but the owner
    await stack.command("run deploy", user="U0CAROL")  # in @it-team
    assert await stack.run_keys() == [("deploy-1", "U0ALICE"), ("deploy-2", "U0CAROL")]

    # Bob, an editor, edits: the modal shows both lists as they are; he empties the runners.
    await stack.command("edit deploy", user="U0BOB")
    modal = stack.emulator.open_view("U0BOB")
    assert modal is not None
    inputs = _inputs(modal)
    assert inputs["wf_editors"]["initial_users"] == ["U0BOB"]
    assert inputs["wf_runners"]["initial_users"] == ["U0DAVE"]
    assert inputs["wf_runner_groups"]["initial_value"] == "@it-team"
    response = await stack.driver.submit_view(
        modal, user="U0BOB", values={"wf_runners": {"users": []}, "wf_runner_groups": {"text": ""}}
    )
    assert stack.driver.view_errors(response) is None
    await stack.settle()
    row = await stack.workflow("deploy")
    assert (row.editors, row.runners, row.latest_version) == (["U0BOB"], [], 2)
