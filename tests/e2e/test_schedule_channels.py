"""`/baton schedule` checks the channel its runs will post in, like `run`: a private channel
Baton was never invited to, a DM between two people or an archived channel is refused up front
with what to do, and no schedule is stored."""

from __future__ import annotations

from sqlmodel import func, select

from bot.slack_emulator import Channel
from storage.models import Schedule
from tests.stack import Stack

REVIEW = "define review Review a doc\nread: Read it <@U0ALICE|alice>\nsign: Sign it <@U0BOB|bob>"


async def schedule_count(stack: Stack) -> int:
    async with stack.baton.runtime.sessions() as session:
        return (await session.exec(select(func.count()).select_from(Schedule))).one()


async def test_schedules_for_channels_baton_cannot_post_in_are_refused(stack: Stack) -> None:
    stack.emulator.workspace().add_channel(
        Channel("C0SECRET", "secret", members=("U0ALICE", "U0BOB"), is_private=True)
    )
    dm = stack.emulator.workspace().open_dm_between("U0ALICE", "U0BOB")
    archived = stack.emulator.workspace().conversation("C0ONBOARD")
    assert archived is not None
    archived.is_archived = True
    await stack.command(REVIEW, user="U0ALICE")

    await stack.command("schedule review weekdays 09:00", user="U0ALICE", channel="C0SECRET")
    refusal = stack.ephemeral("U0ALICE")
    assert "Baton can't post in <#C0SECRET>: type `/invite @Baton` there first." in refusal
    assert "name a channel Baton is in: `/baton schedule review &lt;when&gt; #channel`" in refusal

    await stack.command("schedule review weekdays 09:00", user="U0ALICE", channel=dm.id)
    assert "Baton can't post in a direct message between people." in stack.ephemeral("U0ALICE")

    await stack.command("schedule review weekdays 09:00 <#C0ONBOARD|onboarding>", user="U0ALICE")
    refusal = stack.ephemeral("U0ALICE")
    assert "<#C0ONBOARD> is archived, so Baton can't post there." in refusal
    assert "Name another channel Baton is in" in refusal
    assert await schedule_count(stack) == 0

    # From the private channel, naming a channel Baton is in works.
    await stack.command(
        "schedule review weekdays 09:00 <#C0GENERAL|general>", user="U0ALICE", channel="C0SECRET"
    )
    assert "posting in <#C0GENERAL>" in stack.ephemeral("U0ALICE")
    assert await schedule_count(stack) == 1
