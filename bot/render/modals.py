"""Modals: reasons for Blocked and Reject, the person for Reassign."""

from __future__ import annotations

from typing import Any

from bot.ids import BlockId, CallbackId, InputId, StepRef

View = dict[str, Any]


def _modal(callback: CallbackId, title: str, submit: str, metadata: str, blocks: list[Any]) -> View:
    return {
        "type": "modal",
        "callback_id": callback.value,
        "title": {"type": "plain_text", "text": title[:24]},
        "submit": {"type": "plain_text", "text": submit[:24]},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": metadata,
        "blocks": blocks,
    }


def reason_modal(callback: CallbackId, ref: StepRef, title: str, label: str, submit: str) -> View:
    field = {
        "type": "input",
        "block_id": BlockId.REASON.value,
        "label": {"type": "plain_text", "text": label},
        "element": {
            "type": "plain_text_input",
            "action_id": InputId.TEXT.value,
            "multiline": True,
            "max_length": 500,
        },
    }
    intro = {"type": "section", "text": {"type": "mrkdwn", "text": f"`{ref.step}` in `{ref.run}`"}}
    return _modal(callback, title, submit, ref.encode(), [intro, field])


def reassign_modal(ref: StepRef) -> View:
    field = {
        "type": "input",
        "block_id": BlockId.ASSIGNEE.value,
        "label": {"type": "plain_text", "text": "Give it to"},
        "element": {"type": "users_select", "action_id": InputId.USER.value},
    }
    intro = {"type": "section", "text": {"type": "mrkdwn", "text": f"`{ref.step}` in `{ref.run}`"}}
    return _modal(CallbackId.REASSIGN, "Reassign step", "Reassign", ref.encode(), [intro, field])
