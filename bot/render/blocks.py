"""Block Kit for Baton's messages, built with slack_sdk's models (which check each block's own
limits as it becomes JSON) and kept inside Slack's limits whatever the data: long lists end in
"and N more", long text is cut cleanly at a word."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.ids import ActionId, StepRef
from bot.slack_text import clip

T = TypeVar("T")
Block = dict[str, Any]
"""A block as Slack's JSON, ready for a payload (an outbox row, a reply, a view)."""

MESSAGE_BLOCKS = 50
SECTION_TEXT = 3000
CONTEXT_TEXT = 2000
HEADER_TEXT = 150
BUTTON_TEXT = 75
LINE_TEXT = 800
MORE_TEXT = 150
FALLBACK_TEXT = 3000


def section(text: str) -> Block:
    return SectionBlock(text=MarkdownTextObject(text=clip(text, SECTION_TEXT) or " ")).to_dict()


def context(text: str) -> Block:
    return ContextBlock(
        elements=[MarkdownTextObject(text=clip(text, CONTEXT_TEXT) or " ")]
    ).to_dict()


def header(text: str) -> Block:
    plain = PlainTextObject(text=clip(text, HEADER_TEXT) or " ", emoji=True)
    return HeaderBlock(text=plain).to_dict()


def divider() -> Block:
    return DividerBlock().to_dict()


def button(label: str, action_id: ActionId, value: str, style: str | None = None) -> ButtonElement:
    return ButtonElement(
        text=PlainTextObject(text=clip(label, BUTTON_TEXT) or "?", emoji=True),
        action_id=action_id.value,
        value=value,
        style=style,
    )


def actions(elements: list[ButtonElement], block_id: str | None = None) -> Block:
    return ActionsBlock(
        elements=elements[:25], block_id=block_id[:255] if block_id else None
    ).to_dict()


def step_buttons(ref: StepRef, labels: list[tuple[str, ActionId, str | None]]) -> Block:
    value = ref.encode()
    return actions(
        [button(label, action_id, value, style) for label, action_id, style in labels],
        block_id=f"step:{ref.run}:{ref.step}",
    )


def listing(
    items: Iterable[T],
    total: int,
    render: Callable[[T], str],
    more: Callable[[int], str],
    *,
    max_blocks: int,
    max_lines: int | None = None,
    heading: str | None = None,
) -> list[Block]:
    """An optional heading and one line per item, packed into at most `max_blocks` sections of
    at most 3000 characters. Items are rendered only as far as they are shown; whatever does
    not fit (by count or by size) is summarised by `more(n)` on the last line."""
    budget = SECTION_TEXT - MORE_TEXT - 1  # the "and N more" line always has room
    sections: list[list[str]] = [[clip(heading, 300)] if heading else []]
    size = len(sections[0][0]) if heading else -1
    shown = 0
    for item in items:
        if shown == max_lines:
            break
        line = clip(render(item), LINE_TEXT)
        if not line:
            shown += 1
            continue
        if sections[-1] and size + 1 + len(line) > budget:
            if len(sections) == max_blocks:
                break
            sections.append([])
            size = -1
        sections[-1].append(line)
        size += 1 + len(line)
        shown += 1
    if total > shown:
        sections[-1].append(clip(more(total - shown), MORE_TEXT))
    return [section("\n".join(lines)) for lines in sections if lines]


def fallback(text: str, default: str) -> str:
    """A message's `text`: what notifications and screen readers show."""
    return clip(text, FALLBACK_TEXT) or default


def checked(blocks: list[Block]) -> list[Block]:
    """The blocks of one message, which holds at most 50."""
    if len(blocks) > MESSAGE_BLOCKS:
        raise ValueError(f"{len(blocks)} blocks: a message holds {MESSAGE_BLOCKS}")
    return blocks
