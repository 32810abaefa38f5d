"""What the console prints: messages, modals and App Homes drawn from their Block Kit, with
every button numbered so `click N` can press it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from bot.console.mrkdwn import Reader
from bot.slack_emulator import ElementRef, Message, View

JSON = dict[str, Any]

INDENT: Final = "  "
_FIELD_KEY: Final = re.compile(r"[a-z][a-z0-9_-]{0,30}")


@dataclass(frozen=True)
class Clickable:
    """A numbered button: where it stands and who can see it to press it."""

    target: Message | View  # a message as it was shown (a stale click is still possible)
    ref: ElementRef
    seen_by: str | None  # the only user who sees it (DM, ephemeral, view); None: the channel
    where: str


@dataclass(frozen=True)
class Field:
    """An input of a modal, as `fill <key> …` names it."""

    key: str
    label: str
    ref: ElementRef


def modal_fields(view: View) -> list[Field]:
    fields: list[Field] = []
    inputs = [block for block in view.blocks if block.get("type") == "input"]
    for number, block in enumerate(inputs, start=1):
        block_id = str(block.get("block_id", ""))
        key = block_id if _FIELD_KEY.fullmatch(block_id) else str(number)
        label = _plain(block.get("label"))
        element = block.get("element") if isinstance(block.get("element"), dict) else {}
        fields.append(Field(key, label, ElementRef(block_id, element or {})))
    return fields


class Screen:
    """One command's output: lines of text, and the buttons shown in them, numbered from 1."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.lines: list[str] = []
        self.buttons: list[Clickable] = []

    def text(self) -> str:
        return "\n".join(self.lines)

    def say(self, text: str) -> None:
        self.lines.extend(text.splitlines() or [""])

    def message(self, header: str, message: Message, *, seen_by: str | None) -> None:
        self.lines.append(header)
        if message.deleted:
            self.lines.append(INDENT + "(deleted)")
            return
        shown = message.snapshot()
        if shown.blocks:
            body = self._blocks(shown.blocks, shown, seen_by, header, {})
        else:
            body = self.reader.lines(shown.text)
        self.lines.extend(INDENT + line for line in body or ["(empty message)"])
        if shown.replies and not shown.is_reply:
            count = len(shown.replies)
            replies = "1 reply" if count == 1 else f"{count} replies"
            self.lines.append(INDENT + f"({replies} in thread)")

    def view(self, header: str, view: View, values: Mapping[str, Any]) -> None:
        self.lines.append(header)
        body = self._blocks(view.blocks, view, view.user_id, header, values)
        self.lines.extend(INDENT + line for line in body or ["(empty)"])
        for block_id, error in view.errors.items():
            key = next((f.key for f in modal_fields(view) if f.ref.block_id == block_id), block_id)
            self.lines.append(INDENT + f"! {key}: {error}")
        if view.type == "modal":
            actions = []
            if isinstance(view.spec.get("submit"), dict):
                actions.append(f"`submit` ({_plain(view.spec['submit'])})")
            actions.append(f"`close` ({_plain(view.spec.get('close')) or 'Cancel'})")
            self.lines.append(INDENT + " · ".join(actions))

    # -- blocks ---------------------------------------------------------------------------------

    def _blocks(
        self,
        blocks: list[JSON],
        target: Message | View,
        seen_by: str | None,
        where: str,
        values: Mapping[str, Any],
    ) -> list[str]:
        lines: list[str] = []
        inputs = modal_fields(target) if isinstance(target, View) else []
        fields = {field.ref.block_id: field for field in inputs}
        for block in blocks:
            kind = block.get("type")
            block_id = str(block.get("block_id", ""))
            if kind == "section":
                if isinstance(block.get("text"), dict):
                    lines.extend(self._text(block["text"]))
                for field in block.get("fields", []):
                    lines.extend(self._text(field))
                accessory = block.get("accessory")
                if isinstance(accessory, dict) and accessory.get("type") != "image":
                    lines.append(self._element(accessory, block_id, target, seen_by, where))
            elif kind == "header":
                lines.append(f"== {_plain(block.get('text'))} ==")
            elif kind == "divider":
                lines.append("-" * 32)
            elif kind == "context":
                parts = [
                    " ".join(self._text(el))
                    if el.get("type") in ("mrkdwn", "plain_text")
                    else f"(image: {el.get('alt_text', '')})"
                    for el in block.get("elements", [])
                ]
                lines.append(" · ".join(parts))
            elif kind == "actions":
                elements = block.get("elements", [])
                shown = [self._element(el, block_id, target, seen_by, where) for el in elements]
                lines.append("  ".join(shown))
            elif kind == "input" and block_id in fields:
                lines.append(self._input(fields[block_id], values.get(block_id)))
            elif kind == "image":
                lines.append(f"(image: {block.get('alt_text', '')})")
            elif kind == "rich_text":
                lines.extend(self.reader.lines(_rich_text(block)))
        return lines

    def _text(self, obj: object) -> list[str]:
        if not isinstance(obj, dict):
            return []
        text = str(obj.get("text", ""))
        return self.reader.lines(text) if obj.get("type") == "mrkdwn" else text.splitlines()

    def _element(
        self, element: JSON, block_id: str, target: Message | View, seen_by: str | None, where: str
    ) -> str:
        kind = str(element.get("type", ""))
        if kind != "button":
            label = _plain(element.get("placeholder")) or kind.replace("_", " ")
            return f"<{label} ▾>"
        if element.get("url"):
            return f"[{_plain(element.get('text'))} → {element['url']}]"
        self.buttons.append(Clickable(target, ElementRef(block_id, element), seen_by, where))
        return f"[{len(self.buttons)}] {_plain(element.get('text'))}"

    def _input(self, field: Field, value: Any) -> str:
        kind = field.ref.type
        if value is None:
            value = _initial(field.ref.element)
        if value is None or value == [] or value == "":
            shown = "____"
        elif isinstance(value, list):
            shown = ", ".join(self._value(kind, item) for item in value)
        else:
            shown = " ↵ ".join(self._value(kind, value).splitlines())
        example = "@name" if "users" in kind else "#channel" if _is_channel(kind) else "…"
        return f"{field.label}: [{shown}]   ← fill {field.key} {example}"

    def _value(self, kind: str, value: Any) -> str:
        if "users" in kind:
            return self.reader.text(f"<@{value}>")
        if _is_channel(kind):
            return self.reader.text(f"<#{value}>")
        return str(value)


# The keys an element's prefilled value stands under (Block Kit's `initial_*`).
_INITIAL_KEYS: Final = (
    "initial_value",
    "initial_user",
    "initial_users",
    "initial_conversation",
    "initial_conversations",
    "initial_channel",
    "initial_channels",
    "initial_date",
    "initial_time",
    "initial_date_time",
)


def _initial(element: JSON) -> Any:
    """What a modal field shows before anyone fills it: its `initial_*` value, an option by
    its label."""
    option = element.get("initial_option")
    if isinstance(option, dict):
        return _plain(option.get("text"))
    options = element.get("initial_options")
    if isinstance(options, list):
        return [_plain(item.get("text")) for item in options if isinstance(item, dict)]
    for key in _INITIAL_KEYS:
        if element.get(key) is not None:
            return element[key]
    return None


def _is_channel(kind: str) -> bool:
    return "conversations" in kind or "channels" in kind


def _plain(obj: object) -> str:
    return str(obj.get("text", "")) if isinstance(obj, dict) else ""


def _rich_text(node: object) -> str:
    """A rich_text tree as mrkdwn, so mentions in it read like everywhere else."""
    if not isinstance(node, dict):
        return ""
    kind = node.get("type")
    if kind == "text":
        return str(node.get("text", ""))
    if kind == "user":
        return f"<@{node.get('user_id', '')}>"
    if kind == "usergroup":
        return f"<!subteam^{node.get('usergroup_id', '')}>"
    if kind == "channel":
        return f"<#{node.get('channel_id', '')}>"
    if kind == "link":
        return str(node.get("text") or node.get("url", ""))
    children = "".join(_rich_text(child) for child in node.get("elements", []))
    return children + ("\n" if kind in ("rich_text_section", "rich_text_preformatted") else "")
