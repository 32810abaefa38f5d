"""A workflow's life after it is created, over real HTTP: new versions that keep what their
text does not change, archiving (`delete`) and `restore`.

The emulator's people: Alice and Carol are plain members, Dave is a workspace admin.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import col, select

from storage.db import session_factory, unit_of_work
from storage.models import WorkflowVersion
from tests.stack import Stack

RELEASE = """name: release
title: Ship the release
description: Everything between freeze and announcement
channel: C0ONBOARD
steps:
  - {id: ship, title: Ship it, assignee: U0ALICE}
"""


async def versions(stack: Stack) -> list[tuple[int, str, str, str | None]]:
    sessions = session_factory(stack.baton.runtime.engine)
    async with unit_of_work(sessions) as session:
        rows = (
            await session.exec(select(WorkflowVersion).order_by(col(WorkflowVersion.number)))
        ).all()
    return [(v.number, v.title, v.description, v.channel_id) for v in rows]


async def test_define_on_an_existing_workflow_keeps_what_its_text_does_not_change(
    stack: Stack,
) -> None:
    assert await stack.import_yaml("U0ALICE", RELEASE) is None
    await stack.command("define release\nship: Ship it <@U0ALICE|alice> due 1d", user="U0ALICE")
    assert "Saved version 2 of `release`" in stack.ephemeral("U0ALICE")
    await stack.command("define release Ship v2\nship: Ship it <@U0ALICE|alice>", user="U0ALICE")
    described = ("Everything between freeze and announcement", "C0ONBOARD")
    assert await versions(stack) == [
        (1, "Ship the release", *described),
        (2, "Ship the release", *described),
        (3, "Ship v2", *described),
    ]
    await stack.command("run release", user="U0ALICE")
    assert stack.emulator.messages("C0ONBOARD")[0].text.startswith("Ship v2")


async def test_define_of_a_new_workflow_takes_its_name_as_title(stack: Stack) -> None:
    await stack.command("define solo\nonly: Do it <@U0ALICE|alice>", user="U0ALICE")
    assert await versions(stack) == [(1, "solo", "", None)]


# -- archive and restore -----------------------------------------------------------------------

STANDUP = "define standup Daily standup\npost: Post your update <@U0BOB|bob>"


async def test_delete_pauses_schedules_tells_the_owner_and_restore_brings_it_back(
    stack: Stack,
) -> None:
    await stack.command(STANDUP, user="U0ALICE")
    await stack.command("editors standup add <@U0BOB|bob>", user="U0ALICE")
    await stack.command("schedule standup daily 10:00", user="U0ALICE")  # Berlin: 09:00 UTC
    await stack.command("delete standup", user="U0BOB")
    assert (
        "Archived `standup`. Runs already going carry on; no new runs can start. Its 1 "
        "schedule is paused. `/baton restore standup` brings it back." in stack.ephemeral("U0BOB")
    )
    told = stack.emulator.dm("U0ALICE")[-1].text
    assert "<@U0BOB> archived your workflow `standup`" in told
    assert "its 1 schedule is paused" in told and "`/baton restore standup`" in told
    dms_before = len(stack.emulator.dm("U0ALICE"))

    # Its time comes: nothing starts, nobody is told of a failure.
    await stack.sweep_at(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    assert await stack.runs() == []
    assert len(stack.emulator.dm("U0ALICE")) == dms_before
    await stack.command("schedules", user="U0ALICE")
    assert "paused" in stack.ephemeral("U0ALICE")

    # Commands naming it say it is archived, and how to bring it back.
    archived = "`standup` is archived. Its owner (<@U0ALICE>), its editors or an admin can "
    for command in (
        "run standup",
        "show standup",
        "schedule standup daily 11:00",
        "editors standup",
    ):
        await stack.command(command, user="U0CAROL")
        assert archived in stack.ephemeral("U0CAROL"), command
    assert "There is no workflow named" not in stack.ephemeral("U0CAROL")

    await stack.command("restore standup", user="U0CAROL")
    assert "Only the owner of `standup` (<@U0ALICE>)" in stack.ephemeral("U0CAROL")
    await stack.command("restore standup", user="U0BOB")
    assert "Restored `standup`: new runs can start. Its 1 schedule runs again" in (
        stack.ephemeral("U0BOB")
    )
    await stack.command("restore standup", user="U0BOB")
    assert "`standup` is not archived" in stack.ephemeral("U0BOB")
    await stack.command("restore nothing", user="U0BOB")
    assert "There is no workflow named `nothing`" in stack.ephemeral("U0BOB")

    # The schedule fires again at its next time; runs start.
    await stack.sweep_at(datetime(2026, 11, 24, 9, 0, tzinfo=UTC))
    assert [run.key for run in await stack.runs()] == ["standup-1"]
    await stack.command("run standup", user="U0CAROL")
    assert "Started `standup-2`" in stack.ephemeral("U0CAROL")


async def test_restore_is_in_help(stack: Stack) -> None:
    await stack.command("help restore", user="U0ALICE")
    assert "/baton restore &lt;name&gt;" in stack.ephemeral("U0ALICE")
