"""The workflow builder and import modals."""

from __future__ import annotations

from typing import Any

from bot.ids import BlockId, CallbackId, InputId, WorkflowRef

View = dict[str, Any]
INPUT_TEXT = 3000
"""The most a plain_text_input holds, or starts with: Slack refuses a longer initial value."""


def _text_input(
    block: BlockId,
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
        "block_id": block.value,
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
    steps: str = "",
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
            _text_input(
                BlockId.STEPS,
                "Steps, one per line",
                initial=steps,
                multiline=True,
                hint="<id>: <title> @person|@group|{param}|hook:<name> after <id> due 2d "
                "approval wait 1h. See /baton help language.",
            ),
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


def import_modal(channel: str) -> View:
    return {
        "type": "modal",
        "callback_id": CallbackId.IMPORT.value,
        "title": {"type": "plain_text", "text": "Import workflow"},
        "submit": {"type": "plain_text", "text": "Import"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": WorkflowRef(channel=channel).encode(),
        "blocks": [
            _text_input(
                BlockId.YAML,
                "Workflow YAML",
                multiline=True,
                hint="Paste what /baton export printed, or write it by hand.",
            ),
        ],
    }
