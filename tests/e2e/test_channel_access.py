"""`#channel` arguments are checked against the caller's membership, over real HTTP against
the Slack emulator: run cards, digests, schedules and the builder's channel go only to channels
the person is in and Baton can see; a refusal names the channel and stores nothing."""

from __future__ import annotations

from typing import Any

from sqlmodel import SQLModel, col, func, select

from bot.slack_emulator import Channel
from storage.db import session_factory, unit_of_work
from storage.models import AuditEvent, DigestSubscription, Outbox, Run, Schedule, Workflow
from tests.stack import Stack

# Alice is not in #ops (bob, carol and dave are); everyone is in #general and #onboarding.
REVIEW = (
    "define review Review a doc\n"
    "read: Read it <@U0BOB|bob> due 2h\n"
    "ok: Approve it <@U0ALICE|alice> approval after read"
)
OPS = "<#C0OPS|ops>"
NOT_IN_OPS = "You are not a member of <#C0OPS>, so Baton won't post there for you."


async def count(stack: Stack, table: type[SQLModel], *where: Any) -> int:
    async with unit_of_work(session_factory(stack.baton.runtime.engine)) as session:
        query = select(func.count()).select_from(table)
        for condition in where:
            query = query.where(condition)
        return int((await session.exec(query)).one())


async def stored(stack: Stack) -> dict[str, int]:
    """Everything a refused command could have written."""
    return {
        "runs": await count(stack, Run),
        "schedules": await count(stack, Schedule),
        "digests": await count(stack, DigestSubscription),
        "outbox": await count(stack, Outbox),
        "audit": await count(stack, AuditEvent),
        "workflows": await count(stack, Workflow),
    }


def cards(stack: Stack, channel: str) -> list[str]:
    return [m.text for m in stack.emulator.messages(channel) if not m.is_reply]


def members_calls(stack: Stack, channel: str) -> int:
    calls = stack.emulator.calls_to("conversations.members")
    return len([call for call in calls if call.params.get("channel") == channel])


def add_private_channel(stack: Stack, *, with_baton: bool) -> None:
    """#leads: private, alice and dave (and Baton, when it was invited)."""
    members = ("U0ALICE", "U0DAVE", *(("UBATON",) if with_baton else ()))
    stack.emulator.workspace().add_channel(
        Channel("C0LEADS", "leads", members=members, is_private=True)
    )


# -- run ------------------------------------------------------------------------------------------


async def test_a_member_runs_into_another_channel(stack: Stack) -> None:
    await stack.command(REVIEW, user="U0BOB")
    await stack.command(f"run review {OPS}", user="U0BOB")  # typed in #general
    assert stack.ephemeral("U0BOB") == "Started `review-1` (Review a doc) in <#C0OPS>."
    assert len(cards(stack, "C0OPS")) == 1
    assert cards(stack, "C0GENERAL") == []
    assert members_calls(stack, "C0OPS") == 1

    # Membership is remembered briefly: a second run does not ask Slack again.
    await stack.command(f"run review {OPS}", user="U0BOB")
    assert "Started `review-2`" in stack.ephemeral("U0BOB")
    assert members_calls(stack, "C0OPS") == 1


async def test_a_non_member_cannot_run_into_a_channel(stack: Stack) -> None:
    await stack.command(REVIEW, user="U0ALICE")
    before = await stored(stack)

    await stack.command(f"run review {OPS}", user="U0ALICE")
    reply = stack.ephemeral("U0ALICE")
    assert reply.startswith(NOT_IN_OPS)
    assert "Join it first, or leave out the channel" in reply
    assert cards(stack, "C0OPS") == [] and cards(stack, "C0GENERAL") == []
    assert await stored(stack) == before
    await stack.command("status", user="U0ALICE", channel="C0OPS")
    assert stack.ephemeral("U0ALICE").startswith("No active runs in this channel.")

    # Once she joins she is let in at once: a refusal is not remembered.
    ops = stack.emulator.workspace().conversations["C0OPS"]
    ops.members = (*ops.members, "U0ALICE")
    await stack.command(f"run review {OPS}", user="U0ALICE")
    assert stack.ephemeral("U0ALICE") == "Started `review-1` (Review a doc) in <#C0OPS>."
    assert len(cards(stack, "C0OPS")) == 1


async def test_the_channel_typed_in_needs_no_check(stack: Stack) -> None:
    await stack.command(REVIEW, user="U0ALICE")
    # Alice is not among #ops' members, but she typed there: no lookup, the card goes there.
    await stack.command("run review", user="U0ALICE", channel="C0OPS")
    await stack.command(f"run review {OPS}", user="U0ALICE", channel="C0OPS")
    assert "Started `review-2`" in stack.ephemeral("U0ALICE")
    assert len(cards(stack, "C0OPS")) == 2
    assert stack.emulator.calls_to("conversations.members") == []


async def test_a_private_channel_baton_is_not_in_asks_for_an_invite(stack: Stack) -> None:
    add_private_channel(stack, with_baton=False)
    await stack.command(REVIEW, user="U0ALICE")
    before = await stored(stack)

    await stack.command("run review <#C0LEADS|leads>", user="U0ALICE")
    assert stack.ephemeral("U0ALICE") == (
        "Baton can't see <#C0LEADS>, so it cannot post there: type `/invite @Baton` in that "
        "channel, then try again."
    )
    assert await stored(stack) == before
    [call] = stack.emulator.calls_to("conversations.members")
    assert call.error == "channel_not_found"

    add_private_channel(stack, with_baton=True)  # alice typed /invite @Baton there
    await stack.command("run review <#C0LEADS|leads>", user="U0ALICE")
    assert stack.ephemeral("U0ALICE") == "Started `review-1` (Review a doc) in <#C0LEADS>."
    assert len(cards(stack, "C0LEADS")) == 1


async def test_a_member_on_a_later_page_of_a_big_channel_is_found(stack: Stack) -> None:
    crowd = tuple(f"U0M{n:04d}" for n in range(450))
    stack.emulator.workspace().add_channel(
        Channel("C0ALLHANDS", "all-hands", members=(*crowd, "U0ALICE"))
    )
    await stack.command(REVIEW, user="U0ALICE")
    await stack.command("run review <#C0ALLHANDS|all-hands>", user="U0ALICE")
    assert "Started `review-1`" in stack.ephemeral("U0ALICE")
    calls = stack.emulator.calls_to("conversations.members")
    assert [len(call.response["members"]) for call in calls] == [200, 200, 51]
    assert "cursor" not in calls[0].params
    assert [call.params["cursor"] for call in calls[1:]] == [
        call.response["response_metadata"]["next_cursor"] for call in calls[:-1]
    ]


async def test_slack_failing_the_check_changes_nothing(stack: Stack) -> None:
    await stack.command(REVIEW, user="U0BOB")
    before = await stored(stack)
    stack.emulator.fail("conversations.members", error="fetch_members_failed")
    await stack.command(f"run review {OPS}", user="U0BOB")
    assert stack.ephemeral("U0BOB") == (
        "Baton couldn't check who is in <#C0OPS> (Slack said `fetch_members_failed`). "
        "Nothing was changed; please try again."
    )
    stack.emulator.fail("conversations.members", error="missing_scope")
    await stack.command(f"digest now {OPS}", user="U0BOB")
    assert "the app lacks Slack's `channels:read,groups:read` permission" in (
        stack.ephemeral("U0BOB")
    )
    assert await stored(stack) == before
    assert cards(stack, "C0OPS") == []


# -- digest ---------------------------------------------------------------------------------------


async def test_a_member_subscribes_another_channel(stack: Stack) -> None:
    await stack.command(f"digest weekdays 9:00 {OPS}", user="U0BOB")
    assert stack.ephemeral("U0BOB").startswith("A status digest goes to <#C0OPS> every weekday")
    assert await count(stack, DigestSubscription, DigestSubscription.channel_id == "C0OPS") == 1


async def test_a_non_member_cannot_subscribe_stop_send_or_read_a_digest(stack: Stack) -> None:
    before = await stored(stack)
    for text in (f"digest weekdays 9:00 {OPS}", f"digest now {OPS}", f"digest {OPS}"):
        await stack.command(text, user="U0ALICE")
        assert stack.ephemeral("U0ALICE").startswith(NOT_IN_OPS), text
    assert await stored(stack) == before
    assert stack.emulator.messages("C0OPS") == []

    await stack.command("digest daily 17:00", user="U0CAROL", channel="C0OPS")
    subscribed = await stored(stack)
    await stack.command(f"digest off {OPS}", user="U0ALICE")
    assert stack.ephemeral("U0ALICE").startswith(NOT_IN_OPS)
    assert await stored(stack) == subscribed
    await stack.command("digest", user="U0CAROL", channel="C0OPS")
    assert "every day at 17:00 (Asia/Tokyo)" in stack.ephemeral("U0CAROL")


async def test_a_digest_for_the_channel_typed_in_needs_no_check(stack: Stack) -> None:
    await stack.command("digest now", user="U0ALICE", channel="C0OPS")
    assert stack.ephemeral("U0ALICE") == "A status digest for <#C0OPS> is on its way."
    await stack.command("digest weekly fri 16:30", user="U0ALICE", channel="C0OPS")
    assert "every Friday at 16:30 (Europe/Berlin)" in stack.ephemeral("U0ALICE")
    assert stack.emulator.calls_to("conversations.members") == []


# -- schedule -------------------------------------------------------------------------------------


async def test_schedules_post_only_into_channels_of_their_maker(stack: Stack) -> None:
    await stack.command(REVIEW, user="U0ALICE")
    before = await stored(stack)
    await stack.command(f"schedule review weekdays 09:00 {OPS}", user="U0ALICE")
    assert stack.ephemeral("U0ALICE").startswith(NOT_IN_OPS)
    assert await stored(stack) == before

    await stack.command("schedule review weekdays 09:00 <#C0ONBOARD|onboarding>", user="U0ALICE")
    assert "posting in <#C0ONBOARD>" in stack.ephemeral("U0ALICE")
    assert await count(stack, Schedule, Schedule.channel_id == "C0ONBOARD") == 1


# -- the builder's channel ------------------------------------------------------------------------


async def test_the_builder_takes_only_a_channel_its_editor_is_in(stack: Stack) -> None:
    await stack.command("new release", user="U0ALICE")
    modal = stack.emulator.open_view("U0ALICE")
    assert modal is not None
    values = {"wf_title": {"text": "Release"}, "wf_steps": {"text": "ship: Ship it @alice"}}
    refused = await stack.driver.submit_view(
        modal, user="U0ALICE", values={**values, "wf_channel": "C0OPS"}
    )
    errors = stack.driver.view_errors(refused)
    assert errors == {
        "wf_channel": "You are not a member of this channel, so Baton won't post there for you. "
        "Join it first, or pick a channel you are in."
    }
    await stack.settle()
    assert await count(stack, Workflow) == 0

    accepted = await stack.driver.submit_view(
        modal, user="U0ALICE", values={**values, "wf_channel": "C0ONBOARD"}
    )
    assert stack.driver.view_errors(accepted) is None
    await stack.settle()
    await stack.command("run release", user="U0ALICE")
    assert stack.ephemeral("U0ALICE") == "Started `release-1` (Release) in <#C0ONBOARD>."


async def test_an_imported_channel_is_checked_unless_the_workflow_already_posts_there(
    stack: Stack,
) -> None:
    yaml_text = "name: triage\ntitle: Triage\nchannel: C0OPS\nsteps:\n  - {id: look, title: Look}"
    await stack.command("import", user="U0ALICE")
    refused = await stack.driver.submit_view(user="U0ALICE", values={"wf_yaml": yaml_text})
    errors = stack.driver.view_errors(refused)
    assert errors is not None
    assert errors["wf_yaml"].startswith("You are not a member of channel C0OPS,")
    await stack.settle()
    assert await count(stack, Workflow) == 0

    await stack.command("import", user="U0BOB")  # bob is in #ops
    accepted = await stack.driver.submit_view(user="U0BOB", values={"wf_yaml": yaml_text})
    assert stack.driver.view_errors(accepted) is None
    await stack.settle()
    # Bob leaves #ops; editing the workflow without changing its channel is still his to do.
    ops = stack.emulator.workspace().conversations["C0OPS"]
    ops.members = tuple(m for m in ops.members if m != "U0BOB")
    await stack.command("import", user="U0BOB")
    again = await stack.driver.submit_view(
        user="U0BOB", values={"wf_yaml": yaml_text.replace("Triage", "Triage v2")}
    )
    assert stack.driver.view_errors(again) is None
    await stack.settle()
    await stack.command("show triage", user="U0BOB")
    assert "Triage v2" in stack.ephemeral("U0BOB")


# -- a named channel and the workflow's own --------------------------------------------------------


async def test_a_named_channel_wins_over_the_workflows_own(stack: Stack) -> None:
    """The workflow's channel is the default for its cards: used when none is named."""
    yaml_text = "name: triage\ntitle: Triage\nchannel: C0OPS\nsteps:\n  - {id: look, title: Look}"
    await stack.command("import", user="U0BOB")
    await stack.driver.submit_view(user="U0BOB", values={"wf_yaml": yaml_text})
    await stack.settle()

    await stack.command("run triage", user="U0BOB")  # typed in #general
    assert stack.ephemeral("U0BOB") == "Started `triage-1` (Triage) in <#C0OPS>."
    await stack.command("run triage <#C0ONBOARD|onboarding>", user="U0BOB")
    assert stack.ephemeral("U0BOB") == "Started `triage-2` (Triage) in <#C0ONBOARD>."
    assert cards(stack, "C0OPS") and cards(stack, "C0ONBOARD") and not cards(stack, "C0GENERAL")

    await stack.command("schedule triage daily 09:00", user="U0BOB")
    assert "posting in <#C0OPS>" in stack.ephemeral("U0BOB")
    await stack.command("schedule triage daily 10:00 <#C0ONBOARD|onboarding>", user="U0BOB")
    assert "posting in <#C0ONBOARD>" in stack.ephemeral("U0BOB")
    async with unit_of_work(session_factory(stack.baton.runtime.engine)) as session:
        channels = (
            await session.exec(select(Schedule.channel_id).order_by(col(Schedule.id)))
        ).all()
    assert channels == ["C0OPS", "C0ONBOARD"]
