"""Workflow text that round-trips: typed text escaped wherever it is shown, optional parameters,
`show` text and `export` YAML read back as the same workflow, and long workflows through
`edit`, `define`, `export` and `import`."""

from __future__ import annotations

from tests.stack import Stack
from tests.test_polish_e2e import steps_of
from tests.test_runs_e2e import last_dm

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
    rows = await steps_of(stack, "onboarding-1")
    assert rows["docs"].title == "Collect signed documents for"
    assert rows["desk"].title == "Give a desk"
    card = stack.emulator.messages("C0GENERAL")[-1]
    dm = last_dm(stack, "U0BOB")
    for text in (card.text + str(card.blocks), dm.text + str(dm.blocks)):
        assert "{hire}" not in text
    assert "*Onboard*" in str(card.blocks) and "Collect signed documents for" in str(dm.blocks)

    await stack.command("run onboarding hire=Erin&amp;Co", user="U0ALICE")
    rows = await steps_of(stack, "onboarding-2")
    assert rows["docs"].title == "Collect signed documents for Erin&amp;Co"
    assert rows["desk"].title == "Give Erin&amp;Co a desk"
