"""Reading what Slack received, as a person would see it: a message's buttons and texts, the
pages of a long answer, and which notification each posted message carries."""

from __future__ import annotations

import re

from bot.notify.posting import METADATA_TYPE
from bot.slack_emulator import Call, Message


def labels(message: Message) -> list[str]:
    """The message's buttons, by their labels."""
    return [ref.element["text"]["text"] for ref in message.buttons]


def block_texts(message: Message) -> list[str]:
    texts = []
    for block in message.blocks:
        if block["type"] == "section":
            texts.append(block["text"]["text"])
        elif block["type"] == "context":
            texts.extend(element["text"] for element in block["elements"])
    return texts


def shown(message: Message) -> str:
    return "\n".join(block_texts(message))


def next_command(message: Message) -> str | None:
    """The command a page says shows the next one (`/baton status 2`, `/baton history x-1 2`)."""
    found = re.search(r"`/baton ([^`]+)` shows the (?:next )?\d+", shown(message))
    return found[1] if found else None


def status_keys(message: Message) -> list[str]:
    """The runs a page of `/baton status` shows, in order (each entry's first line)."""
    return re.findall(r"^\*.+\* · `([a-z0-9-]+)`", shown(message), re.MULTILINE)


def delivery_marks(calls: list[Call]) -> list[tuple[str, str]]:
    """(notification, part) named by each message Slack accepted."""
    marks = []
    for call in calls:
        if call.method == "chat.postMessage" and call.ok:
            metadata = call.params.get("metadata") or {}
            assert metadata.get("event_type") == METADATA_TYPE
            payload = metadata["event_payload"]
            marks.append((str(payload["outbox_id"]), str(payload["part"])))
    return marks
