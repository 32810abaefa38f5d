"""Small Block Kit builders that respect Slack's limits by construction."""

from __future__ import annotations

from typing import Any

from bot.ids import ActionId, StepRef
from bot.slack_text import clip

Block = dict[str, Any]
SECTION_LIMIT = 3000
MESSAGE_BLOCKS = 50


def section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_LIMIT)}}


def context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text, 2000)}]}


def divider() -> Block:
    return {"type": "divider"}


def button(label: str, action_id: ActionId, value: str, style: str | None = None) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": label, "emoji": True},
        "action_id": action_id.value,
        "value": value,
    }
    if style:
        element["style"] = style
    return element


def actions(elements: list[dict[str, Any]], block_id: str | None = None) -> Block:
    block: Block = {"type": "actions", "elements": elements[:25]}
    if block_id:
        block["block_id"] = block_id[:255]
    return block


def step_buttons(ref: StepRef, labels: list[tuple[str, ActionId, str | None]]) -> Block:
    value = ref.encode()
    return actions(
        [button(label, action_id, value, style) for label, action_id, style in labels],
        block_id=f"step:{ref.run}:{ref.step}",
    )


def sections_from_lines(
    lines: list[str], max_blocks: int, more: str = "and {n} more"
) -> list[Block]:
    """Pack lines into sections of at most 3000 characters and `max_blocks` blocks, ending
    with "and N more" when they do not all fit."""
    blocks: list[Block] = []
    current: list[str] = []
    size = 0
    for index, line in enumerate(lines):
        line = clip(line, 600)
        if current and size + len(line) + 1 > SECTION_LIMIT - 40:
            if len(blocks) == max_blocks - 1:
                rest = len(lines) - index
                current.append(more.format(n=rest))
                blocks.append(section("\n".join(current)))
                return blocks
            blocks.append(section("\n".join(current)))
            current, size = [], 0
        current.append(line)
        size += len(line) + 1
    if current:
        blocks.append(section("\n".join(current)))
    return blocks
