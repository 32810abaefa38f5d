"""`/baton export` then `/baton import` gives back the same workflow (issue 14): whatever odd
characters its text holds, and however long it is (a 100-step export comes in parts, which
`/baton import <parts>` takes a box each). The stored rows are compared, not the YAML."""

from __future__ import annotations

import json
import re
from typing import Any

from sqlmodel import select

from bot.slack_emulator import check_blocks
from handlers.requests import slack_unescape
from storage.db import unit_of_work
from storage.models import Workflow, WorkflowStep, WorkflowVersion
from tests.stack import Stack
from tests.workflows import hundred_steps

FENCE = "```"
CODE = re.compile(r"```(.*?)```", re.DOTALL)

# Slack's specials, YAML's specials (at the start of a value too), quotes, unicode and emoji.
ODD_YAML = r"""name: odd
title: "Q&A <launch> <!channel> \"quoted\" it's: #1 - [x] { y } *bold* | pipe > gt 🚀 Zürich"
description: "`tick` first\n- starts like a list\n: colon first\n# hash\n{brace} [bracket]\n*star\n| bar\n> gt\n<!channel> & <@U0BOB> ünïcödé 🎉 'single' \"double\""
channel: C0GENERAL
editors: [U0BOB]
runners: [U0ALICE, U0BOB]
params:
  hire: {type: text, required: true}
  note: {type: text}
steps:
  - {id: docs, title: "* Collect {hire}'s papers & <forms>: \"now\" # 1", assignee: U0BOB}
  - {id: desk, title: "- Give {hire} a desk: [A] {note} | > ok 😀 <!here>", assignee: U0ALICE, after: [docs]}
  - {id: pipe, title: "| starts with a bar & ends with one |", assignee: U0BOB, after: [docs]}
  - {id: gt, title: "> starts with gt: key: value, {a: b} [c]", assignee: U0BOB, after: [docs]}
  - {id: colon, title: ": starts with a colon #not-a-comment", assignee: U0BOB, after: [docs]}
  - {id: amp, title: "&anchor *alias !tag %directive @at `tick` ~ ? '", assignee: U0BOB, after: [docs]}
  - {id: fence, title: "`first` then ```a fence``` and ````four````", assignee: U0BOB, after: [docs]}
  - {id: ok, title: "<!channel> approve & <b>ship</b> { not: a map } 日本語 👍🏽", kind: approval, assignee: U0ALICE, after: [desk, pipe, gt, colon, amp, fence], due: 2d}
"""  # noqa: E501


async def stored(stack: Stack, name: str, number: int) -> dict[str, Any]:
    """Version `number` of workflow `name` as its database rows hold it (ids left out)."""
    async with unit_of_work(stack.baton.runtime.sessions) as session:
        workflow = (await session.exec(select(Workflow).where(Workflow.name == name))).one()
        version = (
            await session.exec(
                select(WorkflowVersion).where(
                    WorkflowVersion.workflow_id == workflow.id, WorkflowVersion.number == number
                )
            )
        ).one()
        steps = (
            await session.exec(
                select(WorkflowStep)
                .where(WorkflowStep.version_id == version.id)
                .order_by(WorkflowStep.position)  # type: ignore[arg-type]
            )
        ).all()
    return {
        "label": [step.assignee_label for step in steps],
        "editors": workflow.editors,
        "runners": workflow.runners,
        "version": version.model_dump(
            exclude={"id", "workflow_id", "number", "created_at", "created_by"}
        ),
        # The display name Slack puts in a typed mention (`<@U0BOB|bob>`) is not part of the
        # definition (YAML names people by id): compared apart, below.
        "steps": [
            step.model_dump(exclude={"id", "version_id", "assignee_label"}) for step in steps
        ],
    }


async def exported_parts(stack: Stack, name: str, user: str = "U0ALICE") -> list[str]:
    """The code blocks of `/baton export`'s answer, as the user sees and copies them."""
    await stack.command(f"export {name}", user=user)
    reply = stack.emulator.ephemerals(user)[-1]
    assert check_blocks(reply.blocks) == []
    texts = [block["text"]["text"] for block in reply.blocks if block["type"] == "section"]
    assert all("goes on in the next part" not in text for text in texts)
    codes = [CODE.fullmatch(text) for text in texts if text.startswith(FENCE)]
    assert codes and all(code is not None for code in codes), texts
    for code in codes:  # each code block ends at its closing fence, none sooner
        assert code is not None and "``" not in code.group(1).replace("\u200b", "x")
        assert not code.group(1).startswith("`") and not code.group(1).endswith("`")
    return [slack_unescape(code.group(1)) for code in codes if code is not None]


async def import_parts(stack: Stack, parts: list[str], user: str = "U0ALICE") -> None:
    """Pastes each part into its own box of `/baton import <parts>`, as copied: with a
    trailing line break, and a blank line before the first."""
    command = "import" if len(parts) == 1 else f"import {len(parts)}"
    await stack.command(command, user=user)
    modal = stack.emulator.open_view(user)
    assert modal is not None, stack.ephemeral(user)
    boxes = [b["block_id"] for b in modal.blocks if b["type"] == "input"]
    assert len(boxes) == len(parts)
    values = {box: {"text": "\n" + part + "\n"} for box, part in zip(boxes, parts, strict=True)}
    response = await stack.driver.submit_view(modal, user=user, values=values)
    assert stack.driver.view_errors(response) is None
    await stack.settle()


async def test_odd_characters_survive_export_and_import(stack: Stack) -> None:
    await import_parts(stack, [ODD_YAML])
    first = await stored(stack, "odd", 1)
    assert first["version"]["title"] == (
        'Q&A <launch> <!channel> "quoted" it\'s: #1 - [x] { y } *bold* | pipe > gt 🚀 Zürich'
    )
    assert first["editors"] == ["U0BOB"] and first["runners"] == ["U0ALICE", "U0BOB"]

    parts = await exported_parts(stack, "odd")
    assert len(parts) == 1
    assert "<!channel>" in parts[0]  # what the user sees in the code block, escaped for Slack
    await import_parts(stack, parts)
    assert await stored(stack, "odd", 2) == first

    # The run card shows the typed text as text: no live @channel or @here, no HTML.
    await stack.command("run odd hire=Erin&amp;Co", user="U0ALICE")
    card = stack.emulator.messages("C0GENERAL")[-1]
    assert check_blocks(card.blocks) == []
    shown = "\n".join([card.text, *(b["text"]["text"] for b in card.blocks if "text" in b)])
    assert "<!channel>" not in shown and "<!here>" not in shown and "<b>" not in shown
    assert "&lt;!channel&gt; approve &amp; &lt;b&gt;ship&lt;/b&gt;" in shown
    assert "Q&amp;A &lt;launch&gt;" in shown
    assert "Collect Erin&amp;Co's papers &amp; &lt;forms&gt;" in shown
    assert "👍🏽" in shown and "🚀 Zürich" in shown


async def test_a_hundred_step_export_comes_in_parts_that_import_back(stack: Stack) -> None:
    await stack.command(hundred_steps(), user="U0ALICE")
    assert "Created `launch` (100 steps)" in stack.ephemeral("U0ALICE")
    first = await stored(stack, "launch", 1)
    assert len(first["steps"]) == 100

    parts = await exported_parts(stack, "launch")
    assert len(parts) > 1, "the YAML of 100 long steps is longer than one section"
    assert f"`/baton import {len(parts)}` opens a box for each" in stack.ephemeral("U0ALICE")
    joined = "\n".join(parts)
    assert all(f"id: s{n:03d}," in joined for n in range(1, 101)), "an export cut short"
    await import_parts(stack, parts)
    second = await stored(stack, "launch", 2)
    for wrong in ("import 0", "import 49", "import lots", "import 2 3"):
        await stack.command(wrong, user="U0ALICE")
        assert "how many parts the YAML comes in, from 1 to 48" in stack.ephemeral("U0ALICE")
    assert first.pop("label") == ["bob"] * 100 and second.pop("label") == [None] * 100
    assert second == first


async def test_a_description_longer_than_a_part_is_folded_and_imports_back(stack: Stack) -> None:
    description = " ".join(f"Quarter {n} & year <{n}>: 'done'  twice." for n in range(77))
    assert 2900 < len(description) <= 3000
    yaml_text = (
        f"name: notes\ntitle: Notes\ndescription: {json.dumps(description)}\n"
        "steps:\n  - {id: write, title: Write them, assignee: U0BOB}\n"
    )
    await import_parts(stack, [yaml_text])
    first = await stored(stack, "notes", 1)
    assert first["version"]["description"] == description

    # Escaped for Slack it is longer than a section: it comes in parts that end where lines
    # end (none "goes on in the next part"), each pasted into its own box.
    parts = await exported_parts(stack, "notes")
    assert len(parts) > 1
    await import_parts(stack, parts)
    assert await stored(stack, "notes", 2) == first
