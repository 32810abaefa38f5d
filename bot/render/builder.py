"""The workflow builder and import modals."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.slack.ids import BlockId, CallbackId, InputId, WorkflowRef, part_block

View = dict[str, Any]
INPUT_TEXT = 3000
"""The most a plain_text_input holds, or starts with: Slack refuses a longer initial value."""
MODAL_BLOCKS = 100
"""The most blocks Slack takes in a modal."""
BOX_ROOM = 2400
"""How full `edit` fills a box of steps when the modal has blocks to spare: room to add some."""
STEP_HINT = (
    "<id>: <title> @person|@group|{param}|hook:<name> after <id> due 2d approval wait 1h. "
    "See /baton help language."
)
_BUILDER_OTHER_BLOCKS = 7  # the heading, title, description, channel, editors, runners, groups
MAX_STEP_BOXES = MODAL_BLOCKS - _BUILDER_OTHER_BLOCKS
MAX_IMPORT_PARTS = 48
"""Boxes `/baton import <parts>` opens at most: as many parts as an export message shows."""


def pack_lines(text: str, size: int) -> list[str] | None:
    """`text` in pieces of at most `size` characters that end where a line ends, so that
    joining them with line breaks gives `text` back; None when one line alone is longer."""
    pieces: list[str] = []
    piece: str | None = None
    for line in text.split("\n"):
        if len(line) > size:
            return None
        if piece is None:
            piece = line
        elif len(piece) + 1 + len(line) > size:
            pieces.append(piece)
            piece = line
        else:
            piece = f"{piece}\n{line}"
    pieces.append(piece or "")
    return pieces


def step_boxes(steps: str) -> list[str] | None:
    """The builder's boxes for a workflow's step lines: each with room to add steps when the
    modal's blocks allow, full boxes when not; None when even they cannot hold the steps
    (a step line longer than a box, or more boxes than a modal has blocks for)."""
    for size in (BOX_ROOM, INPUT_TEXT):
        boxes = pack_lines(steps, size)
        if boxes is not None and len(boxes) <= MAX_STEP_BOXES:
            return boxes
    return None


def _text_input(
    block: str,
    label: str,
    *,
    initial: str = "",
    multiline: bool = False,
    optional: bool = False,
    hint: str | None = None,
    max_length: int = INPUT_TEXT,
) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": InputId.TEXT.value,
        "multiline": multiline,
        "max_length": max_length,
    }
    if initial:
        if len(initial) > max_length:  # cut, it could not be saved back as it was
            raise ValueError(f"{len(initial)} characters for a box of {max_length}")
        element["initial_value"] = initial
    block_json: dict[str, Any] = {
        "type": "input",
        "block_id": str(block),  # a BlockId, or a part_block of one
        "label": {"type": "plain_text", "text": label},
        "element": element,
        "optional": optional,
    }
    if hint:
        block_json["hint"] = {"type": "plain_text", "text": hint[:2000]}
    return block_json


def builder_modal(
    ref: WorkflowRef,
    *,
    title: str = "",
    description: str = "",
    channel: str | None = None,
    steps: Sequence[str] = (),
    editors: list[str] | None = None,
    runners: list[str] | None = None,
    runner_groups: str = "",
) -> View:
    channel_element: dict[str, Any] = {
        "type": "conversations_select",
        "action_id": InputId.CHANNEL.value,
        "filter": {"include": ["public", "private"], "exclude_bot_users": True},
    }
    if channel:
        channel_element["initial_conversation"] = channel
    verb = "Edit" if steps else "New"
    return {
        "type": "modal",
        "callback_id": CallbackId.BUILDER.value,
        "title": {"type": "plain_text", "text": f"{verb} workflow"[:24]},
        "submit": {"type": "plain_text", "text": "Save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": ref.encode(),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"Workflow `{ref.name}`"}},
            _text_input(BlockId.TITLE, "Title", initial=title, max_length=200),
            _text_input(
                BlockId.DESCRIPTION,
                "Description",
                initial=description,
                multiline=True,
                optional=True,
            ),
            {
                "type": "input",
                "block_id": BlockId.CHANNEL.value,
                "label": {"type": "plain_text", "text": "Channel for run cards"},
                "element": channel_element,
                "optional": True,
            },
            *_step_inputs(steps),
            _users_input(
                BlockId.EDITORS,
                "Editors (may change it)",
                editors or [],
                hint="Besides you and workspace admins.",
            ),
            _users_input(
                BlockId.RUNNERS,
                "People who may start runs",
                runners or [],
                hint="Leave this and the groups below empty and anyone may start runs.",
            ),
            _text_input(
                BlockId.RUNNER_GROUPS,
                "User groups who may start runs",
                initial=runner_groups,
                optional=True,
                max_length=500,
                hint="Their @handles, e.g. @it-team, @oncall. Members of these groups may "
                "start runs.",
            ),
        ],
    }


def _step_inputs(boxes: Sequence[str]) -> list[dict[str, Any]]:
    """One box of steps, or several for a workflow too long for one; on submit they join in
    order, a line break between each (a box may be left empty)."""
    if len(boxes) <= 1:
        initial = boxes[0] if boxes else ""
        return [
            _text_input(
                BlockId.STEPS,
                "Steps, one per line",
                initial=initial,
                multiline=True,
                hint=STEP_HINT,
            )
        ]
    if len(boxes) > MAX_STEP_BOXES:
        raise ValueError(f"{len(boxes)} boxes of steps: a modal holds {MAX_STEP_BOXES}")
    count = len(boxes)
    inputs = [
        _text_input(
            BlockId.STEPS,
            f"Steps, one per line (box 1 of {count})",
            initial=boxes[0],
            multiline=True,
            hint=f"{STEP_HINT} The steps go on in the boxes below.",
        )
    ]
    for part, text in enumerate(boxes[1:], start=2):
        inputs.append(
            _text_input(
                part_block(BlockId.STEPS, part),
                f"Steps (box {part} of {count})",
                initial=text,
                multiline=True,
                optional=True,
            )
        )
    return inputs


def _users_input(block: BlockId, label: str, users: list[str], hint: str) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "multi_users_select", "action_id": InputId.USERS.value}
    if users:
        element["initial_users"] = users
    return {
        "type": "input",
        "block_id": block.value,
        "label": {"type": "plain_text", "text": label},
        "element": element,
        "optional": True,
        "hint": {"type": "plain_text", "text": hint},
    }


def import_modal(channel: str, parts: int = 1) -> View:
    """One box for the YAML, or a box for each part of an export that came in `parts`."""
    if not 1 <= parts <= MAX_IMPORT_PARTS:
        raise ValueError(f"{parts} parts: the import modal holds 1 to {MAX_IMPORT_PARTS}")
    hint = "Paste what /baton export printed, or write it by hand."
    boxes = [_text_input(BlockId.YAML, "Workflow YAML", multiline=True, hint=hint)]
    if parts > 1:
        boxes = [
            _text_input(
                part_block(BlockId.YAML, part),
                f"Part {part} of {parts}",
                multiline=True,
                optional=part > 1,
                hint="Paste the parts /baton export printed in order, one in each box."
                if part == 1
                else None,
            )
            for part in range(1, parts + 1)
        ]
    return {
        "type": "modal",
        "callback_id": CallbackId.IMPORT.value,
        "title": {"type": "plain_text", "text": "Import workflow"},
        "submit": {"type": "plain_text", "text": "Import"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": WorkflowRef(channel=channel).encode(),
        "blocks": boxes,
    }
