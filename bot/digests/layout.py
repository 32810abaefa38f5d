"""Block Kit for digests, built with slack_sdk's models and kept inside Slack's limits whatever
the data: long lists end in "and N more", long text is cut cleanly at a word."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.slack_text import clip

T = TypeVar("T")
BlockDict = dict[str, Any]

MESSAGE_BLOCKS = 50
SECTION_TEXT = 3000
CONTEXT_TEXT = 2000
HEADER_TEXT = 150
LINE_TEXT = 800
MORE_TEXT = 150
FALLBACK_TEXT = 3000


def header(text: str) -> HeaderBlock:
    return HeaderBlock(text=PlainTextObject(text=clip(text, HEADER_TEXT) or " ", emoji=True))


def context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=clip(text, CONTEXT_TEXT) or " ")])


def section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=clip(text, SECTION_TEXT) or " "))


def divider() -> DividerBlock:
    return DividerBlock()


def listing(
    heading: str,
    items: Iterable[T],
    total: int,
    render: Callable[[T], str],
    more: Callable[[int], str],
    *,
    max_lines: int,
    max_blocks: int,
) -> list[Block]:
    """A heading and one line per item, packed into at most `max_blocks` sections of at most
    3000 characters. Items are rendered only as far as they are shown; whatever does not fit
    (by count or by size) is summarised by `more(n)` on the last line."""
    budget = SECTION_TEXT - MORE_TEXT - 1  # the "and N more" line always has room
    sections: list[list[str]] = [[clip(heading, 300)]]
    size = len(sections[0][0])
    shown = 0
    for item in items:
        if shown == max_lines:
            break
        line = clip(render(item), LINE_TEXT)
        if not line:
            shown += 1
            continue
        if size + 1 + len(line) > budget:
            if len(sections) == max_blocks:
                break
            sections.append([])
            size = -1
        sections[-1].append(line)
        size += 1 + len(line)
        shown += 1
    if total > shown:
        sections[-1].append(clip(more(total - shown), MORE_TEXT))
    return [section("\n".join(lines)) for lines in sections]


def fallback(text: str) -> str:
    """A message's `text`: what notifications and screen readers show."""
    return clip(text, FALLBACK_TEXT) or "Status digest"


def to_dicts(blocks: Iterable[Block]) -> list[BlockDict]:
    """The blocks as Slack's JSON; slack_sdk checks each block's own limits here."""
    found = [block.to_dict() for block in blocks]
    if len(found) > MESSAGE_BLOCKS:
        raise ValueError(f"{len(found)} blocks: a message holds {MESSAGE_BLOCKS}")
    return found
