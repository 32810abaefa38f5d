"""Workflow text that round-trips: typed text escaped wherever it is shown, optional parameters,
`show` text and `export` YAML read back as the same workflow, and long workflows through
`edit`, `define`, `export` and `import`."""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from bot.console.mrkdwn import Reader
from bot.console.typed_text import escape_typed
from bot.slack.text import FENCE
from storage.db import unit_of_work
from storage.models import Workflow, WorkflowStep, WorkflowVersion
from tests.stack import Stack

OPTIONAL_YAML = """name: onboarding
title: Onboard {hire}
params:
  hire: {type: text}
steps:
  - {id: docs, title: "Collect signed documents for {hire}", assignee: U0BOB}
  - {id: desk, title: "Give {hire} a desk", assignee: U0BOB, after: [docs]}
"""


async def test_an_optional_parameter_left_out_leaves_no_placeholder(stack: Stack) -> None:
    await stack.command("import", user="U0ALICE")
    response = await stack.driver.submit_view(user="U0ALICE", values={"wf_yaml": OPTIONAL_YAML})
    assert stack.driver.view_errors(response) is None
    await stack.settle()

    await stack.command("run onboarding", user="U0ALICE")
    assert "Started `onboarding-1`" in stack.ephemeral("U0ALICE")
    rows = await stack.steps("onboarding-1")
    assert rows["docs"].title == "Collect signed documents for"
    assert rows["desk"].title == "Give a desk"
    card = stack.emulator.messages("C0GENERAL")[-1]
    dm = stack.last_dm("U0BOB")
    for text in (card.text + str(card.blocks), dm.text + str(dm.blocks)):
        assert "{hire}" not in text
    assert "*Onboard*" in str(card.blocks) and "Collect signed documents for" in str(dm.blocks)

    await stack.command("run onboarding hire=Erin&amp;Co", user="U0ALICE")
    rows = await stack.steps("onboarding-2")
    assert rows["docs"].title == "Collect signed documents for Erin&amp;Co"
    assert rows["desk"].title == "Give Erin&amp;Co a desk"


# Everything the text form can say: a description of several lines (with `;`, `&`, `<`, an
# indented line), a default channel, parameters declared in their own order (an optional text,
# a required user, an unused optional user), editors, runners (a group and a person), and
# steps of every kind.
FULL_YAML = """name: onboarding
title: Onboard a new hire & friends
description: |-
  Week one; everything a new hire needs.
    Ask <@U0BOB|bob> about R&D
channel: C0ONBOARD
editors: [U0BOB, U0CAROL]
runners: [S0ITTEAM, U0DAVE]
params:
  hire: {type: text}
  manager: {type: user, required: true}
  buddy: {type: user}
steps:
  - {id: docs, title: "Collect signed documents for {hire}", assignee: U0ALICE, due: 1d}
  - {id: laptop, title: "Prepare laptop after docs", assignee: "@it-team", after: [docs]}
  - {id: cool, title: Let it settle, wait: 2h, after: [docs]}
  - {id: keys, title: "Get keys from <@U0CAROL|carol>", after: [docs]}
  - {id: signoff, title: Sign-off, kind: approval, assignee: "{manager}", after: [cool, keys]}
"""


async def stored(stack: Stack, name: str) -> dict[str, object]:
    """The workflow's rows as JSON, without what differs between two saves (ids, times,
    names, version numbers)."""
    async with unit_of_work(stack.baton.runtime.sessions) as session:
        workflow = (await session.exec(select(Workflow).where(Workflow.name == name))).one()
        version = (
            await session.exec(
                select(WorkflowVersion).where(
                    WorkflowVersion.workflow_id == workflow.id,
                    WorkflowVersion.number == workflow.latest_version,
                )
            )
        ).one()
        steps = (
            await session.exec(
                select(WorkflowStep)
                .where(WorkflowStep.version_id == version.id)
                .order_by(col(WorkflowStep.position))
            )
        ).all()
    changing = {"id", "workflow_id", "version_id", "number", "created_at", "updated_at", "name"}
    # A step's assignee_label is the name Slack wrote into the mention it was typed as
    # (`<@U0BOB|bob>`), or none for an id: a memo of how it was typed, not part of the
    # definition (definitions compare without it; nothing shows it).
    rows: dict[str, object] = json.loads(
        json.dumps(
            {
                "workflow": workflow.model_dump(exclude={*changing, "latest_version"}),
                "version": version.model_dump(exclude=changing),
                "steps": [step.model_dump(exclude={*changing, "assignee_label"}) for step in steps],
            },
            default=str,
        )
    )
    return rows


def shown_text(stack: Stack, user: str) -> str:
    """The `define` command `show` printed: its code block as Slack shows it."""
    [block] = [
        b
        for b in stack.emulator.ephemerals(user)[-1].blocks
        if b.get("text", {}).get("text", "").startswith(FENCE + "/baton define")
    ]
    return str(block["text"]["text"]).removeprefix(FENCE).removesuffix(FENCE)


async def test_show_prints_the_define_command_that_makes_the_same_workflow(stack: Stack) -> None:
    await stack.command("import", user="U0ALICE")
    response = await stack.driver.submit_view(user="U0ALICE", values={"wf_yaml": FULL_YAML})
    assert stack.driver.view_errors(response) is None
    await stack.settle()
    original = await stored(stack, "onboarding")

    await stack.command("show onboarding", user="U0ALICE")
    text = shown_text(stack, "U0ALICE")
    assert text.splitlines()[:9] == [
        "/baton define onboarding Onboard a new hire &amp; friends",
        "description Week one; everything a new hire needs.",
        "description   Ask <@U0BOB> about R&amp;D",
        "channel <#C0ONBOARD>",
        "param hire text optional",
        "param manager user",
        "param buddy user optional",
        "editors <@U0BOB>, <@U0CAROL>",
        "runners <!subteam^S0ITTEAM>, <@U0DAVE>",
    ]

    # Copied as Slack shows it (@bob, #onboarding, R&D) and pasted under another name: Slack
    # links the names again and escapes the rest...
    seen = Reader(stack.emulator.workspace(), ZoneInfo("Europe/Berlin"), stack.clock).text(text)
    assert "description   Ask @bob about R&D" in seen and "editors @bob, @carol" in seen
    assert 'keys: "Get keys from @carol" after docs' in seen
    pasted = seen.replace("/baton define onboarding", "define onboarding-copy", 1)
    await stack.command(escape_typed(pasted, stack.emulator.workspace()), user="U0ALICE")
    assert "Created `onboarding-copy`" in stack.ephemeral("U0ALICE")
    assert await stored(stack, "onboarding-copy") == original
    # ...and sent as it is written, as a new version of itself, which then says exactly what
    # version 1 said.
    await stack.command(text.removeprefix("/baton "), user="U0ALICE")
    assert "Saved version 2 of `onboarding`" in stack.ephemeral("U0ALICE")
    assert await stored(stack, "onboarding") == original


async def test_define_refuses_a_channel_its_maker_is_not_in(stack: Stack) -> None:
    text = "define deploy Deploy\nchannel <#C0OPS|ops>\nship: Ship it <@U0BOB|bob>"
    await stack.command(text, user="U0ALICE")
    refusal = stack.ephemeral("U0ALICE")
    assert "You are not a member of <#C0OPS>, so Baton won't post there for you." in refusal
    assert "Join it first, or name a channel you are in." in refusal
    await stack.command("show deploy", user="U0ALICE")
    assert "There is no workflow named `deploy`" in stack.ephemeral("U0ALICE")

    await stack.command(text, user="U0BOB")  # bob is in #ops
    assert "Created `deploy`" in stack.ephemeral("U0BOB")
    await stack.command("show deploy", user="U0ALICE")
    assert "channel <#C0OPS>" in shown_text(stack, "U0ALICE")
