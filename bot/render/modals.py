"""Modals: reasons for Blocked and Reject, the person for Reassign."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import (
    InputBlock,
    PlainTextInputElement,
    PlainTextObject,
    UserSelectElement,
)
from slack_sdk.models.views import View as ViewModel

from bot.render.blocks import section
from bot.slack.ids import BlockId, CallbackId, InputId, StepRef
from bot.slack.text import clip

View = dict[str, Any]
MODAL_TITLE = 24  # Slack's limit for a modal's title and button labels


def _plain(text: str) -> PlainTextObject:
    return PlainTextObject(text=clip(text, MODAL_TITLE))


def _modal(callback: CallbackId, title: str, submit: str, metadata: str, blocks: list[Any]) -> View:
    return ViewModel(
        type="modal",
        callback_id=callback.value,
        title=_plain(title),
        submit=_plain(submit),
        close=_plain("Cancel"),
        private_metadata=metadata,
        blocks=blocks,
    ).to_dict()


def _intro(ref: StepRef) -> dict[str, Any]:
    return section(f"`{ref.step}` in `{ref.run}`")


def reason_modal(callback: CallbackId, ref: StepRef, title: str, label: str, submit: str) -> View:
    field = InputBlock(
        block_id=BlockId.REASON.value,
        label=PlainTextObject(text=label),
        element=PlainTextInputElement(action_id=InputId.TEXT.value, multiline=True, max_length=500),
    )
    return _modal(callback, title, submit, ref.encode(), [_intro(ref), field])


def reassign_modal(ref: StepRef) -> View:
    field = InputBlock(
        block_id=BlockId.ASSIGNEE.value,
        label=PlainTextObject(text="Give it to"),
        element=UserSelectElement(action_id=InputId.USER.value),
    )
    return _modal(
        CallbackId.REASSIGN, "Reassign step", "Reassign", ref.encode(), [_intro(ref), field]
    )
