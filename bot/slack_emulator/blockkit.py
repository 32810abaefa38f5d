"""Block Kit limit checks and a plain-text rendering of blocks.

The checks mirror what Slack rejects (so a message Baton can post here, Slack accepts too);
errors read like Slack's own: "<what is wrong> [json-pointer:/blocks/3/text/text]".
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

JSON = dict[str, Any]

MAX_MESSAGE_BLOCKS: Final = 50
MAX_VIEW_BLOCKS: Final = 100
MAX_MESSAGE_TEXT: Final = 40_000
MAX_SECTION_TEXT: Final = 3000
MAX_SECTION_FIELDS: Final = 10
MAX_FIELD_TEXT: Final = 2000
MAX_HEADER_TEXT: Final = 150
MAX_ID: Final = 255
MAX_BUTTON_TEXT: Final = 75
MAX_BUTTON_VALUE: Final = 2000
MAX_URL: Final = 3000
MAX_ACTIONS_ELEMENTS: Final = 25
MAX_CONTEXT_ELEMENTS: Final = 10
MAX_VIEW_TITLE: Final = 24
MAX_PRIVATE_METADATA: Final = 3000
MAX_OPTIONS: Final = 100
MAX_OPTION_TEXT: Final = 75
MAX_OPTION_VALUE: Final = 150
MAX_PLACEHOLDER: Final = 150
MAX_LABEL: Final = 2000

BLOCK_TYPES: Final = frozenset(
    {"section", "header", "divider", "context", "actions", "input", "image", "rich_text"}
)
SELECTS: Final = frozenset(
    {
        "static_select",
        "external_select",
        "users_select",
        "conversations_select",
        "channels_select",
        "multi_static_select",
        "multi_external_select",
        "multi_users_select",
        "multi_conversations_select",
        "multi_channels_select",
    }
)
CHOICES: Final = frozenset({"checkboxes", "radio_buttons"})
PICKERS: Final = frozenset({"datepicker", "timepicker", "datetimepicker"})
# Elements that may stand in an actions block or as a section accessory.
INTERACTIVE: Final = SELECTS | CHOICES | PICKERS | {"button", "overflow"}
# Elements an input block accepts.
INPUTS: Final = (SELECTS | CHOICES | PICKERS) | {
    "plain_text_input",
    "number_input",
    "email_text_input",
    "url_text_input",
    "rich_text_input",
}


def _at(message: str, path: str) -> str:
    return f"{message} [json-pointer:{path}]"


class _Checker:
    """Collects every violation rather than stopping at the first, as Slack does."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self._block_ids: set[str] = set()

    def fail(self, message: str, path: str) -> None:
        self.errors.append(_at(message, path))

    def string(self, value: object, path: str, limit: int, *, required: bool = False) -> None:
        if value is None:
            if required:
                self.fail("is required", path)
            return
        if not isinstance(value, str):
            self.fail("must be a string", path)
        elif len(value) > limit:
            self.fail(f"must be less than {limit + 1} characters", path)

    def text(self, obj: object, path: str, limit: int, *, plain_only: bool = False) -> None:
        if not isinstance(obj, dict):
            self.fail("must be a text object", path)
            return
        kind = obj.get("type")
        allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
        if kind not in allowed:
            self.fail(f"must be one of {', '.join(allowed)}", f"{path}/type")
        text = obj.get("text")
        if not isinstance(text, str):
            self.fail("is required", f"{path}/text")
        elif not text:
            self.fail("must be more than 0 characters", f"{path}/text")
        elif len(text) > limit:
            self.fail(f"must be less than {limit + 1} characters", f"{path}/text")

    def items(self, value: object, path: str, limit: int, *, minimum: int = 1) -> list[Any]:
        if not isinstance(value, list):
            self.fail("must be an array", path)
            return []
        if len(value) < minimum:
            self.fail(f"must provide at least {minimum} items", path)
        if len(value) > limit:
            self.fail(f"no more than {limit} items allowed", path)
        return value

    def options(self, value: object, path: str, limit: int, *, mrkdwn: bool = False) -> None:
        for i, option in enumerate(self.items(value, path, limit)):
            if not isinstance(option, dict):
                self.fail("must be an option object", f"{path}/{i}")
                continue
            self.text(
                option.get("text"), f"{path}/{i}/text", MAX_OPTION_TEXT, plain_only=not mrkdwn
            )
            self.string(option.get("value"), f"{path}/{i}/value", MAX_OPTION_VALUE)

    def element(self, el: object, path: str, allowed: frozenset[str]) -> str | None:
        """Checks one element; returns its action_id for the uniqueness check."""
        if not isinstance(el, dict):
            self.fail("must be an element object", path)
            return None
        kind = el.get("type")
        if kind not in allowed:
            self.fail(f"unsupported element type `{kind}` here", f"{path}/type")
            return None
        self.string(el.get("action_id"), f"{path}/action_id", MAX_ID)
        if "placeholder" in el:
            self.text(el["placeholder"], f"{path}/placeholder", MAX_PLACEHOLDER, plain_only=True)
        if kind == "button":
            self.text(el.get("text"), f"{path}/text", MAX_BUTTON_TEXT, plain_only=True)
            self.string(el.get("value"), f"{path}/value", MAX_BUTTON_VALUE)
            self.string(el.get("url"), f"{path}/url", MAX_URL)
            if el.get("style") not in (None, "primary", "danger"):
                self.fail("must be one of primary, danger", f"{path}/style")
        elif kind == "overflow":
            self.options(el.get("options"), f"{path}/options", 5)
        elif kind in CHOICES:
            self.options(el.get("options"), f"{path}/options", 10, mrkdwn=True)
        elif kind in ("static_select", "multi_static_select"):
            if "option_groups" in el:
                for i, group in enumerate(
                    self.items(el["option_groups"], f"{path}/option_groups", MAX_OPTIONS)
                ):
                    group_path = f"{path}/option_groups/{i}"
                    if isinstance(group, dict):
                        self.options(group.get("options"), f"{group_path}/options", MAX_OPTIONS)
                    else:
                        self.fail("must be an option group", group_path)
            else:
                self.options(el.get("options"), f"{path}/options", MAX_OPTIONS)
        elif kind == "plain_text_input":
            for key in ("min_length", "max_length"):
                length = el.get(key)
                if length is not None and not (isinstance(length, int) and 0 <= length <= 3000):
                    self.fail("must be an integer from 0 to 3000", f"{path}/{key}")
        elif kind == "image":
            self.string(el.get("image_url"), f"{path}/image_url", MAX_URL, required=True)
            self.string(el.get("alt_text"), f"{path}/alt_text", MAX_LABEL, required=True)
        action_id = el.get("action_id")
        return action_id if isinstance(action_id, str) else None

    def block(self, block: object, path: str) -> None:
        if not isinstance(block, dict):
            self.fail("must be a block object", path)
            return
        kind = block.get("type")
        if kind not in BLOCK_TYPES:
            self.fail(f"unsupported block type `{kind}`", f"{path}/type")
            return
        block_id = block.get("block_id")
        self.string(block_id, f"{path}/block_id", MAX_ID)
        if isinstance(block_id, str):
            if block_id in self._block_ids:
                self.fail(f"duplicate block_id `{block_id}`", f"{path}/block_id")
            self._block_ids.add(block_id)
        action_ids: list[str | None] = []
        if kind == "section":
            if "text" not in block and "fields" not in block:
                self.fail("must provide either text or fields", path)
            if "text" in block:
                self.text(block["text"], f"{path}/text", MAX_SECTION_TEXT)
            if "fields" in block:
                fields = self.items(block["fields"], f"{path}/fields", MAX_SECTION_FIELDS)
                for i, field in enumerate(fields):
                    self.text(field, f"{path}/fields/{i}", MAX_FIELD_TEXT)
            if "accessory" in block:
                allowed = INTERACTIVE | {"image"}
                action_ids.append(self.element(block["accessory"], f"{path}/accessory", allowed))
        elif kind == "header":
            self.text(block.get("text"), f"{path}/text", MAX_HEADER_TEXT, plain_only=True)
        elif kind == "context":
            elements = self.items(block.get("elements"), f"{path}/elements", MAX_CONTEXT_ELEMENTS)
            for i, el in enumerate(elements):
                el_path = f"{path}/elements/{i}"
                if isinstance(el, dict) and el.get("type") in ("plain_text", "mrkdwn"):
                    self.text(el, el_path, MAX_SECTION_TEXT)
                else:
                    self.element(el, el_path, frozenset({"image"}))
        elif kind == "actions":
            elements = self.items(block.get("elements"), f"{path}/elements", MAX_ACTIONS_ELEMENTS)
            for i, el in enumerate(elements):
                action_ids.append(self.element(el, f"{path}/elements/{i}", INTERACTIVE))
        elif kind == "input":
            self.text(block.get("label"), f"{path}/label", MAX_LABEL, plain_only=True)
            if "hint" in block:
                self.text(block["hint"], f"{path}/hint", MAX_LABEL, plain_only=True)
            if "element" not in block:
                self.fail("is required", f"{path}/element")
            else:
                self.element(block["element"], f"{path}/element", INPUTS)
        elif kind == "image":
            self.string(block.get("image_url"), f"{path}/image_url", MAX_URL, required=True)
            self.string(block.get("alt_text"), f"{path}/alt_text", MAX_LABEL, required=True)
            if "title" in block:
                self.text(block["title"], f"{path}/title", MAX_LABEL, plain_only=True)
        elif kind == "rich_text":
            self.items(block.get("elements"), f"{path}/elements", 100)
        seen: set[str] = set()
        for i, action_id in enumerate(action_ids):
            if action_id is not None and action_id in seen:
                self.fail(f"duplicate action_id `{action_id}`", f"{path}/elements/{i}/action_id")
            if action_id is not None:
                seen.add(action_id)

    def blocks(self, blocks: object, path: str, limit: int) -> None:
        for i, block in enumerate(self.items(blocks, path, limit, minimum=0)):
            self.block(block, f"{path}/{i}")


def check_blocks(blocks: object, *, limit: int = MAX_MESSAGE_BLOCKS) -> list[str]:
    """Violations in a message's `blocks` (an empty list means Slack would accept them)."""
    checker = _Checker()
    checker.blocks(blocks, "/blocks", limit)
    return checker.errors


def check_view(view: object) -> list[str]:
    """Violations in a modal or App Home view."""
    checker = _Checker()
    if not isinstance(view, dict):
        checker.fail("must be a view object", "/view")
        return checker.errors
    kind = view.get("type")
    if kind not in ("modal", "home"):
        checker.fail("must be one of modal, home", "/view/type")
    if kind == "modal" or "title" in view:
        checker.text(view.get("title"), "/view/title", MAX_VIEW_TITLE, plain_only=True)
    for key in ("submit", "close"):
        if view.get(key) is not None:
            checker.text(view[key], f"/view/{key}", MAX_VIEW_TITLE, plain_only=True)
    checker.string(view.get("private_metadata"), "/view/private_metadata", MAX_PRIVATE_METADATA)
    checker.string(view.get("callback_id"), "/view/callback_id", MAX_ID)
    checker.string(view.get("external_id"), "/view/external_id", MAX_ID)
    blocks = view.get("blocks")
    if blocks is None:
        checker.fail("is required", "/view/blocks")
    else:
        checker.blocks(blocks, "/view/blocks", MAX_VIEW_BLOCKS)
    has_input = isinstance(blocks, list) and any(
        isinstance(b, dict) and b.get("type") == "input" for b in blocks
    )
    if kind == "modal" and has_input and view.get("submit") is None:
        checker.fail("submit is required when a modal has input blocks", "/view/submit")
    return checker.errors


# --- reading blocks back: interactive elements and a text rendering ---------------------------


@dataclass(frozen=True)
class ElementRef:
    """An interactive element as it stands in a recorded message or view."""

    block_id: str
    element: JSON

    @property
    def type(self) -> str:
        return str(self.element.get("type", ""))

    @property
    def action_id(self) -> str:
        return str(self.element.get("action_id", ""))

    @property
    def text(self) -> str:
        """The visible label: a button's text, or a select's placeholder."""
        label = self.element.get("text") or self.element.get("placeholder") or {}
        return str(label.get("text", "")) if isinstance(label, dict) else ""

    @property
    def value(self) -> str | None:
        value = self.element.get("value")
        return value if isinstance(value, str) else None


def elements(blocks: list[JSON]) -> Iterator[ElementRef]:
    """Every interactive element in display order (accessories, actions, inputs)."""
    for block in blocks:
        block_id = str(block.get("block_id", ""))
        kind = block.get("type")
        if kind == "section" and isinstance(block.get("accessory"), dict):
            if block["accessory"].get("type") != "image":
                yield ElementRef(block_id, block["accessory"])
        elif kind == "actions":
            for el in block.get("elements", []):
                yield ElementRef(block_id, el)
        elif kind == "input" and isinstance(block.get("element"), dict):
            yield ElementRef(block_id, block["element"])


def buttons(blocks: list[JSON]) -> list[ElementRef]:
    return [ref for ref in elements(blocks) if ref.type == "button"]


def _plain(obj: object) -> str:
    return str(obj.get("text", "")) if isinstance(obj, dict) else ""


def _rich_text(node: object) -> str:
    """Flattens a rich_text tree: the minimal support the emulator promises."""
    if not isinstance(node, dict):
        return ""
    if node.get("type") == "text":
        return str(node.get("text", ""))
    if node.get("type") == "user":
        return f"<@{node.get('user_id', '')}>"
    if node.get("type") == "link":
        return str(node.get("text") or node.get("url", ""))
    return "".join(_rich_text(child) for child in node.get("elements", []))


def _element_label(el: JSON) -> str:
    kind = el.get("type")
    if kind == "button":
        return f"[{_plain(el.get('text'))}]"
    if kind == "image":
        return f"(image: {el.get('alt_text', '')})"
    if kind in INPUTS and kind not in SELECTS:
        return f"[{_plain(el.get('placeholder')) or '____'}]"
    return f"[{_plain(el.get('placeholder')) or kind} v]"


def render_blocks(blocks: list[JSON]) -> str:
    """A terminal-friendly rendering: what a person would read, one line group per block."""
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "section":
            if "text" in block:
                lines.append(_plain(block["text"]))
            lines.extend(_plain(field) for field in block.get("fields", []))
            if isinstance(block.get("accessory"), dict):
                lines.append(_element_label(block["accessory"]))
        elif kind == "header":
            lines.append(f"*{_plain(block.get('text'))}*")
        elif kind == "divider":
            lines.append("-" * 40)
        elif kind == "context":
            parts = [
                _plain(el) if el.get("type") in ("plain_text", "mrkdwn") else _element_label(el)
                for el in block.get("elements", [])
            ]
            lines.append(" | ".join(parts))
        elif kind == "actions":
            lines.append(" ".join(_element_label(el) for el in block.get("elements", [])))
        elif kind == "input":
            element = block.get("element", {})
            lines.append(f"{_plain(block.get('label'))}: {_element_label(element)}")
        elif kind == "image":
            lines.append(f"(image: {block.get('alt_text', '')})")
        elif kind == "rich_text":
            lines.append(_rich_text(block))
    return "\n".join(lines)


def _short_id(seed: str) -> str:
    return hashlib.sha1(seed.encode()).hexdigest()[:5]


def fill_ids(blocks: list[JSON], seed: str) -> list[JSON]:
    """A copy with the block_id / action_id Slack generates where the app gave none."""
    filled = copy.deepcopy(blocks)
    for i, block in enumerate(filled):
        if not isinstance(block, dict):
            continue
        block.setdefault("block_id", _short_id(f"{seed}:{i}"))
        for j, ref in enumerate(elements([block])):
            ref.element.setdefault("action_id", _short_id(f"{seed}:{i}:{j}"))
    return filled
