"""A workflow's life after it is created, over real HTTP: new versions that keep what their
text does not change, archiving (`delete`) and `restore`.

The emulator's people: Alice and Carol are plain members, Dave is a workspace admin.
"""

from __future__ import annotations

from sqlmodel import col, select

from storage.db import session_factory, unit_of_work
from storage.models import WorkflowVersion
from tests.stack import Stack
from tests.test_permissions_e2e import import_yaml

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
    assert await import_yaml(stack, "U0ALICE", RELEASE) is None
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
