"""The builder's "New workflow" modal never replaces a workflow someone created while it was
open: saving it refuses next to the form's first field and changes nothing."""

from __future__ import annotations

from sqlmodel import select

from storage.db import unit_of_work
from storage.models import Workflow, WorkflowVersion
from tests.stack import Stack


async def test_new_saved_after_someone_created_the_name_refuses_and_changes_nothing(
    stack: Stack,
) -> None:
    await stack.command("new release", user="U0ALICE")
    alices = stack.emulator.open_view("U0ALICE")
    assert alices is not None and alices.spec["title"]["text"] == "New workflow"

    # Meanwhile bob creates `release` with a description of his own.
    await stack.command("new release", user="U0BOB")
    bobs = stack.emulator.open_view("U0BOB")
    assert bobs is not None
    saved = await stack.driver.submit_view(
        bobs,
        user="U0BOB",
        values={
            "wf_title": {"text": "Bob's release"},
            "wf_description": {"text": "How bob ships"},
            "wf_steps": {"text": "tag: Tag it @bob"},
        },
    )
    assert stack.driver.view_errors(saved) is None
    await stack.settle()

    refused = await stack.driver.submit_view(
        alices,
        user="U0ALICE",
        values={
            "wf_title": {"text": "Alice's release"},
            "wf_steps": {"text": "ship: Ship it @alice"},
        },
    )
    errors = stack.driver.view_errors(refused)
    assert errors is not None
    assert "Someone created a workflow named release" in errors["wf_title"]
    assert "nothing was saved" in errors["wf_title"]
    await stack.settle()

    async with unit_of_work(stack.baton.runtime.sessions) as session:
        workflow = (await session.exec(select(Workflow).where(Workflow.name == "release"))).one()
        versions = (
            await session.exec(
                select(WorkflowVersion).where(WorkflowVersion.workflow_id == workflow.id)
            )
        ).all()
    assert workflow.owner_id == "U0BOB" and workflow.latest_version == 1
    assert [(v.title, v.description) for v in versions] == [("Bob's release", "How bob ships")]
    assert not any("release" in m.text for m in stack.emulator.dm("U0ALICE"))


async def test_edit_modal_still_saves_a_new_version(stack: Stack) -> None:
    await stack.command("define release Release\ntag: Tag it <@U0BOB|bob>", user="U0ALICE")
    await stack.command("edit release", user="U0ALICE")
    modal = stack.emulator.open_view("U0ALICE")
    assert modal is not None
    response = await stack.driver.submit_view(
        modal,
        user="U0ALICE",
        values={"wf_title": {"text": "Release 2"}, "wf_steps": {"text": "tag: Tag it @bob"}},
    )
    assert stack.driver.view_errors(response) is None
    await stack.settle()
    assert "Saved version 2 of `release`" in stack.emulator.dm("U0ALICE")[-1].text
