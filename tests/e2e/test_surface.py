"""The rest of the Slack surface: builder and import modals, App Home, `mine`, usage messages,
workspace isolation, escaping."""

from __future__ import annotations

import pytest

from bot.commands import SPEC_BY_NAME
from bot.slack.text import escape
from bot.slack_emulator import Channel, User
from tests.stack import Stack
from tests.workflows import start_onboarding

SIMPLE = (
    "define review Review a doc\n"
    "read: Read it <@U0BOB|bob> due 2h\n"
    "ok: Approve it <@U0ALICE|alice> approval after read"
)


async def test_builder_modal_creates_a_workflow_and_shows_errors_inline(stack: Stack) -> None:
    await stack.command("new release", user="U0ALICE")
    modal = stack.emulator.open_view("U0ALICE")
    assert modal is not None and modal.spec["callback_id"] == "workflow_builder"

    bad = await stack.driver.submit_view(
        modal,
        user="U0ALICE",
        values={
            "wf_title": {"text": "Release"},
            "wf_steps": {"text": "build: Build <@U0BOB|bob> after tests"},
        },
    )
    errors = stack.driver.view_errors(bad)
    assert errors is not None and "unknown step" in errors["wf_steps"]
    assert "line 1" in errors["wf_steps"]
    await stack.settle()

    good = await stack.driver.submit_view(
        modal,
        user="U0ALICE",
        values={
            "wf_title": {"text": "Release"},
            # Slack links no mentions in modal text: plain @names are looked up.
            "wf_steps": {"text": "test: Run tests @bob\nship: Ship it @alice after test"},
        },
    )
    assert stack.driver.view_errors(good) is None
    await stack.settle()
    assert "Created `release` (2 steps)" in stack.last_dm("U0ALICE").text

    # Edit opens the builder filled with the current definition; only editors may.
    await stack.command("show release", user="U0BOB")
    assert "test: Run tests <@U0BOB>" in stack.ephemeral("U0BOB")
    await stack.command("edit release", user="U0BOB")
    assert "Only the owner of `release`" in stack.ephemeral("U0BOB")
    await stack.command("edit release", user="U0ALICE")
    modal = stack.emulator.open_view("U0ALICE")
    assert modal is not None
    steps_block = next(b for b in modal.spec["blocks"] if b.get("block_id") == "wf_steps")
    assert "ship: Ship it <@U0ALICE> after test" in steps_block["element"]["initial_value"]


async def test_export_then_import_round_trips(stack: Stack) -> None:
    await stack.command(SIMPLE, user="U0ALICE")
    await stack.command("export review", user="U0BOB")
    assert "Only the owner of `review`" in stack.ephemeral("U0BOB")
    await stack.command("export review", user="U0ALICE")
    exported = stack.ephemeral("U0ALICE")
    yaml_text = exported.strip("`")
    assert "name: review" in yaml_text

    await stack.command("import", user="U0CAROL")
    modal = stack.emulator.open_view("U0CAROL")
    assert modal is not None
    renamed = yaml_text.replace("name: review", "name: review-copy")
    response = await stack.driver.submit_view(
        modal, user="U0CAROL", values={"wf_yaml": {"text": renamed}}
    )
    assert stack.driver.view_errors(response) is None
    await stack.settle()
    await stack.command("show review-copy", user="U0CAROL")
    shown = stack.ephemeral("U0CAROL")
    assert "read: Read it <@U0BOB> due 2h" in shown
    assert "ok: Approve it <@U0ALICE> approval after read" in shown

    await stack.command("import", user="U0CAROL")
    modal = stack.emulator.open_view("U0CAROL")
    assert modal is not None
    broken = await stack.driver.submit_view(
        modal, user="U0CAROL", values={"wf_yaml": {"text": "name: x\nsteps: [{id: a}]"}}
    )
    errors = stack.driver.view_errors(broken)
    assert errors is not None and "title" in errors["wf_yaml"]


async def test_app_home_and_mine_show_my_steps_with_buttons(stack: Stack) -> None:
    await start_onboarding(stack)
    response = await stack.driver.app_home_opened("U0ALICE")
    assert response.status_code == 200
    await stack.settle()
    home = stack.emulator.home("U0ALICE")
    assert home is not None
    rendered = str(home.spec["blocks"])
    assert "Collect signed documents" in rendered
    assert "onboarding-1" in rendered  # the run she owns
    await stack.driver.click(home, user="U0ALICE", text="Done")
    await stack.settle()
    home = stack.emulator.home("U0ALICE")
    assert home is not None and "Nothing waiting for you." in str(home.spec["blocks"])

    await stack.command("mine", user="U0BOB")
    mine = stack.emulator.ephemerals("U0BOB")[-1]
    assert "Prepare laptop" in mine.text or "Prepare laptop" in str(mine.blocks)
    assert [ref.text for ref in mine.buttons] == ["Claim"]


MALFORMED = [
    ("define", "define"),
    ("define", "define onboarding"),
    ("new", "new"),
    ("new", "new Not_A_Name!"),
    ("edit", "edit"),
    ("export", "export"),
    ("show", "show"),
    ("delete", "delete"),
    ("run", "run"),
    ("run", "run onboarding notaparam"),
    ("run", "run onboarding by tomorrow-ish"),
    ("cancel", "cancel"),
    ("history", "history"),
    ("done", "done"),
    ("done", "done onboarding-1"),
    ("block", "block onboarding-1 docs"),
    ("reject", "reject onboarding-1 signoff"),
    ("reassign", "reassign onboarding-1 docs nobody"),
    ("help", "help nonsense-topic"),
]


@pytest.mark.parametrize(("name", "text"), MALFORMED)
async def test_malformed_commands_get_their_usage(stack: Stack, name: str, text: str) -> None:
    await stack.command(text, user="U0ALICE")
    reply = stack.ephemeral("U0ALICE")
    assert f"Usage: `{escape(SPEC_BY_NAME[name].usage)}`" in reply


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "run",
        "status nope-1",
        "done nope-1 x",
        "show <!channel>",
        "define a\n:",
        "run x y=z",
        "\u0000",
        "history ../../etc",
        "cancel 💥",
        "reassign a b <@U0BOB|bob>",
    ],
)
async def test_no_input_gives_a_500(stack: Stack, text: str) -> None:
    response = await stack.driver.command(text, user="U0ALICE", channel="C0GENERAL")
    assert response.status_code == 200
    await stack.settle()
    assert stack.emulator.ephemerals("U0ALICE"), "every command gets an answer"
    assert "Something went wrong" not in stack.ephemeral("U0ALICE")


async def test_another_workspace_sees_nothing(stack: Stack) -> None:
    await start_onboarding(stack)
    stack.emulator.add_workspace(
        "T0OTHER",
        "xoxb-emulator",
        users=[User("U0MALLORY", "mallory", tz="UTC")],
        channels=[Channel("C0OTHER", "other", members=("U0MALLORY",))],
    )
    other = stack.driver.__class__(
        stack.url, stack.driver.signing_secret, stack.emulator, team_id="T0OTHER"
    )
    try:
        await other.command("done onboarding-1 docs", user="U0MALLORY", channel="C0OTHER")
        await stack.settle()
        assert (
            "There is no run `onboarding-1`"
            in stack.emulator.ephemerals("U0MALLORY", team_id="T0OTHER")[-1].text
        )
        await other.command("show onboarding", user="U0MALLORY", channel="C0OTHER")
        await stack.settle()
        assert (
            "no workflow named `onboarding`"
            in stack.emulator.ephemerals("U0MALLORY", team_id="T0OTHER")[-1].text
        )
    finally:
        await other.aclose()


async def test_typed_text_cannot_ping_the_channel(stack: Stack) -> None:
    # As Slack sends it: @here becomes <!here>, typed <, > and & arrive as entities.
    await stack.command(
        "define party <!channel> party\n"
        "plan: Plan <!here> &amp; &lt;b&gt;fun&lt;/b&gt; <@U0BOB|bob>",
        user="U0ALICE",
    )
    await stack.command("run party", user="U0ALICE")
    posted = stack.emulator.messages("C0GENERAL") + stack.emulator.dm("U0BOB")
    everything = " ".join(str(m.blocks) + m.text for m in posted)
    assert "<!channel>" not in everything and "<!here>" not in everything
    assert "&lt;!here&gt; &amp; &lt;b&gt;fun&lt;/b&gt;" in everything


async def test_a_workflows_problems_quote_what_was_typed_as_text(stack: Stack) -> None:
    await stack.command(
        "define party Party\nplan: Plan due &lt;soon&gt; @<!channel>", user="U0ALICE"
    )
    reply = stack.ephemeral("U0ALICE")
    assert reply.startswith("That workflow has problems; nothing was saved.\n")
    assert "due '&lt;soon&gt;' is not a duration" in reply
    assert "'@&lt;!channel&gt;' is not a user or group name" in reply
    assert "<!channel>" not in reply


async def test_a_retried_event_is_handled_once(stack: Stack) -> None:
    await stack.driver.app_home_opened("U0ALICE")
    await stack.settle()
    again = await stack.driver.replay(retry_num=1, retry_reason="http_timeout")
    assert again.status_code == 200
    await stack.settle()
    assert len(stack.emulator.calls_to("views.publish")) == 1
