"""Channels Baton cannot post in, over real HTTP: a private channel it was never invited to, a
DM between two people, an archived channel. `run` and `digest` refuse up front and say what to
do; a channel that stops working mid-run is reported to the run's owner once."""

from __future__ import annotations

from sqlmodel import col, func, select

from bot.slack_emulator import Channel
from storage.models import Outbox, Run
from tests.stack import Stack

REVIEW = "define review Review a doc\nread: Read it <@U0ALICE|alice>\nsign: Sign it <@U0BOB|bob>"


async def run_count(stack: Stack) -> int:
    async with stack.baton.runtime.sessions() as session:
        return (await session.exec(select(func.count()).select_from(Run))).one()


async def digests_queued(stack: Stack) -> int:
    async with stack.baton.runtime.sessions() as session:
        query = select(func.count()).select_from(Outbox).where(col(Outbox.kind) == "digest")
        return (await session.exec(query)).one()


def trouble_dms(stack: Stack, user: str) -> list[str]:
    return [
        m.text
        for m in stack.emulator.dm(user)
        if "could not deliver" in m.text or "can no longer post" in m.text
    ]


async def test_run_and_digest_in_a_private_channel_baton_is_not_in_are_refused(
    stack: Stack,
) -> None:
    stack.emulator.workspace().add_channel(
        Channel("C0SECRET", "secret", members=("U0ALICE", "U0BOB"), is_private=True)
    )
    await stack.command(REVIEW, user="U0ALICE")
    await stack.command("run review", user="U0ALICE", channel="C0SECRET")
    refusal = stack.ephemeral("U0ALICE")
    assert "Baton can't post in <#C0SECRET>: type `/invite @Baton` there first." in refusal
    assert "name a channel Baton is in: `/baton run review #channel`" in refusal
    assert "Started" not in refusal
    await stack.command("digest now", user="U0ALICE", channel="C0SECRET")
    assert "type `/invite @Baton` there first" in stack.ephemeral("U0ALICE")
    await stack.command("digest daily 09:00", user="U0ALICE", channel="C0SECRET")
    assert "type `/invite @Baton` there first" in stack.ephemeral("U0ALICE")
    assert (await run_count(stack), await digests_queued(stack)) == (0, 0)
    assert trouble_dms(stack, "U0ALICE") == []

    # Naming a channel Baton is in works from there.
    await stack.command("run review <#C0GENERAL|general>", user="U0ALICE", channel="C0SECRET")
    assert "Started `review-1`" in stack.ephemeral("U0ALICE")
    assert len(stack.emulator.messages("C0GENERAL")) == 1


async def test_run_in_a_dm_between_two_people_is_refused(stack: Stack) -> None:
    dm = stack.emulator.workspace().open_dm_between("U0ALICE", "U0BOB")
    await stack.command(REVIEW, user="U0ALICE")
    await stack.command("run review", user="U0ALICE", channel=dm.id)
    refusal = stack.ephemeral("U0ALICE")
    assert "Baton can't post in a direct message between people." in refusal
    assert "`/baton run review #channel`" in refusal
    assert await run_count(stack) == 0


async def test_run_in_the_dm_with_baton_says_where_the_card_went(stack: Stack) -> None:
    dm = stack.emulator.workspace().open_dm("U0ALICE")
    await stack.command(REVIEW, user="U0ALICE")
    await stack.command("run review", user="U0ALICE", channel=dm.id)
    assert stack.ephemeral("U0ALICE") == "Started `review-1` (Review a doc) in this direct message."
    assert [m.text for m in stack.emulator.messages(dm.id) if "review-1" in m.text]
    await stack.command("schedule review daily 09:00", user="U0ALICE", channel=dm.id)
    assert "posting in this direct message." in stack.ephemeral("U0ALICE")
    await stack.command("schedules", user="U0ALICE")
    assert "· DM to <@U0ALICE> · by <@U0ALICE>" in stack.ephemeral("U0ALICE")


async def test_run_into_an_archived_channel_is_refused(stack: Stack) -> None:
    archived = stack.emulator.workspace().conversation("C0ONBOARD")
    assert archived is not None
    archived.is_archived = True
    await stack.command(REVIEW, user="U0ALICE")
    await stack.command("run review <#C0ONBOARD|onboarding>", user="U0ALICE")
    refusal = stack.ephemeral("U0ALICE")
    assert "<#C0ONBOARD> is archived, so Baton can't post there." in refusal
    assert "Name another channel Baton is in" in refusal
    assert await run_count(stack) == 0


async def test_a_channel_that_stops_working_is_told_to_the_owner_once(stack: Stack) -> None:
    await stack.command(REVIEW, user="U0ALICE")
    await stack.command("run review <#C0ONBOARD|onboarding>", user="U0ALICE")
    assert "Started `review-1`" in stack.ephemeral("U0ALICE")
    channel = stack.emulator.workspace().conversation("C0ONBOARD")
    assert channel is not None
    channel.is_archived = True  # every thread post there now fails with `is_archived`
    await stack.command("start review-1 read", user="U0ALICE")
    await stack.command("done review-1 read", user="U0ALICE")
    await stack.command("done review-1 sign", user="U0BOB")
    told = trouble_dms(stack, "U0ALICE")
    assert len(told) == 1, told
    assert "can no longer post there (Slack said `is_archived`)" in told[0]
    assert "<#C0ONBOARD>" in told[0]
    assert "`/invite @Baton`" in told[0]
    # Baton took the channel on trust after its first check; it checks again now.
    await stack.command("run review <#C0ONBOARD|onboarding>", user="U0ALICE")
    assert "<#C0ONBOARD> is archived, so Baton can't post there." in stack.ephemeral("U0ALICE")


async def test_a_channel_found_postable_is_not_asked_about_again_for_each_run(
    stack: Stack,
) -> None:
    await stack.command(REVIEW, user="U0ALICE")
    for _ in range(3):
        await stack.command("run review", user="U0ALICE")
    assert "Started `review-3`" in stack.ephemeral("U0ALICE")
    # conversations.info is 50 calls a minute: a crowd starting runs would spend it.
    assert len(stack.emulator.calls_to("conversations.info")) == 1
