"""Block Kit for Baton's messages, built with slack_sdk's models (which check each block's own
limits as it becomes JSON) and kept inside Slack's limits whatever the data: long lists end in
"and N more", long text is cut cleanly at a word."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
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

from bot.slack.ids import ActionId, StepRef
from bot.slack.text import FENCE, clip

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
HEADING_TEXT = 300
ZERO_WIDTH = "\u200b"
_NEXT_TO_BACKTICK = re.compile(f"(?<=`){ZERO_WIDTH}|{ZERO_WIDTH}(?=`)")
_BACKTICKS = re.compile(r"`(?=`)")  # a backtick another follows: a code block could end there
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


class _Packer:
    """Lines packed in order into sections of at most `budget` characters (joined by newlines),
    at most `max_blocks` of them; the one packing loop behind every listing."""

    def __init__(self, budget: int, max_blocks: int, first: list[str] | None = None) -> None:
        self.budget = budget
        self.max_blocks = max_blocks
        self.sections: list[list[str]] = [list(first or [])]
        self._size = sum(len(line) + 1 for line in self.sections[0]) - 1

    def add(self, line: str) -> bool:
        """Place `line`, opening a new section when the current one is full; False (and
        nothing placed) when every section allowed is full."""
        if self.sections[-1] and self._size + 1 + len(line) > self.budget:
            if len(self.sections) == self.max_blocks:
                return False
            self.sections.append([])
            self._size = -1
        self.sections[-1].append(line)
        self._size += 1 + len(line)
        return True


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
    packer = _Packer(budget, max_blocks, [clip(heading, HEADING_TEXT)] if heading else [])
    sections = packer.sections
    shown = 0
    for item in items:
        if shown == max_lines:
            break
        line = clip(render(item), LINE_TEXT)
        if line and not packer.add(line):
            break
        shown += 1
    if total > shown:
        sections[-1].append(clip(more(total - shown), MORE_TEXT))
    return [section("\n".join(lines)) for lines in sections if lines]


def code_listing(
    lines: Sequence[str],
    more: Callable[[int], str],
    *,
    max_blocks: int,
    heading: str | None = None,
) -> list[Block]:
    """Preformatted lines as code blocks in at most `max_blocks` sections of at most 3000
    characters, each section closing its own block (Slack draws no block across sections). A
    line too long for a section is clipped; lines that do not fit are summarised by `more(n)`
    after the last block. An optional heading goes above the first block. Backticks in a line
    get zero-width spaces between them, so none ends its block early."""
    head = clip(heading, HEADING_TEXT) + "\n" if heading else ""
    budget = SECTION_TEXT - len(head) - 2 * len(FENCE) - 2 - MORE_TEXT - 1  # 2: see _code
    packer = _Packer(budget, max_blocks)
    shown = 0
    for item in lines:
        line = clip(_BACKTICKS.sub("`" + ZERO_WIDTH, item), budget)  # so it ends no block
        if not packer.add(line):
            break
        shown += 1
    texts = [FENCE + _code("\n".join(chunk)) + FENCE for chunk in packer.sections if chunk]
    if texts:
        texts[0] = head + texts[0]
    elif head:
        texts = [head.rstrip("\n")]
    if len(lines) > shown and texts:
        texts[-1] += "\n" + clip(more(len(lines) - shown), MORE_TEXT)
    return [section(text) for text in texts]


def _code(text: str) -> str:
    """A code block's content, kept from running into its fences."""
    if text.startswith("`"):
        text = ZERO_WIDTH + text
    if text.endswith("`"):
        text += ZERO_WIDTH
    return text or " "


def fence_safe(code: str) -> str:
    """Text for a code block that no backtick in it can end early (nor run into the fences):
    a zero-width space between two backticks and before or after one at either end.
    :func:`unfence` takes them out of what the reader copies back."""
    code = _BACKTICKS.sub("`" + ZERO_WIDTH, code)
    return _code(code) if code else code


def unfence(text: str) -> str:
    """What :func:`fence_safe` gave, as typed: without the zero-width spaces next to a
    backtick (which only it puts there)."""
    return _NEXT_TO_BACKTICK.sub("", text)


def split_text(text: str, size: int) -> list[str]:
    """`text` in pieces of at most `size` characters that join back into it exactly. A piece
    ends just after its last line break when it has one; a line longer than `size` is cut at a
    space where it can be, and never inside an `&…;` entity or a `<…>` token."""
    pieces: list[str] = []
    while len(text) > size:
        window = text[:size]
        cut = window.rfind("\n") + 1
        if cut == 0:
            space = window.rfind(" ") + 1
            cut = space if space > size * 0.6 else size
            amp = window.rfind("&", 0, cut)
            if amp != -1 and ";" not in window[amp:cut]:
                cut = amp
            angle = window.rfind("<", 0, cut)
            if angle != -1 and ">" not in window[angle:cut]:
                cut = angle
            if cut <= 0:
                cut = size
        pieces.append(text[:cut])
        text = text[cut:]
    pieces.append(text)
    return pieces


def fallback(text: str, default: str) -> str:
    """A message's `text`: what notifications and screen readers show."""
    return clip(text, FALLBACK_TEXT) or default


def checked(blocks: list[Block]) -> list[Block]:
    """The blocks of one message, which holds at most 50."""
    if len(blocks) > MESSAGE_BLOCKS:
        raise ValueError(f"{len(blocks)} blocks: a message holds {MESSAGE_BLOCKS}")
    return blocks
