"""Every action_id, block_id and callback_id Baton uses, and the typed values it round-trips
through Slack (button values, modal private_metadata), each with one encode/decode."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Final, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.commands import MAX_ROW_ID
from bot.core.errors import NotFound

# Baton's own values are a few hundred characters; anything far longer was not written by it.
MAX_VALUE_CHARS: Final = 2000
RowId = Annotated[int, Field(ge=1, le=MAX_ROW_ID)]


class ActionId(StrEnum):
    START = "step_start"
    DONE = "step_done"
    BLOCK = "step_block"
    UNBLOCK = "step_unblock"
    APPROVE = "step_approve"
    REJECT = "step_reject"
    REASSIGN = "step_reassign"
    CLAIM = "step_claim"
    SKIP = "step_skip"
    RETRY = "step_retry"
    SNOOZE_HOUR = "reminder_snooze_hour"
    SNOOZE_TOMORROW = "reminder_snooze_tomorrow"


class CallbackId(StrEnum):
    BUILDER = "workflow_builder"
    IMPORT = "workflow_import"
    REJECT = "step_reject_reason"
    BLOCK = "step_block_reason"
    REASSIGN = "step_reassign_to"


class BlockId(StrEnum):
    STEP_BUTTONS = "step_buttons"
    TITLE = "wf_title"
    DESCRIPTION = "wf_description"
    CHANNEL = "wf_channel"
    STEPS = "wf_steps"
    EDITORS = "wf_editors"
    RUNNERS = "wf_runners"
    RUNNER_GROUPS = "wf_runner_groups"
    YAML = "wf_yaml"
    REASON = "reason"
    ASSIGNEE = "assignee"


def part_block(block: BlockId, part: int) -> str:
    """The block id of a long text's `part`-th box (from 1): Slack's text boxes hold 3000
    characters, so a long workflow's steps or YAML take several, the first under `block`."""
    return block.value if part == 1 else f"{block.value}_{part}"


class InputId(StrEnum):
    TEXT = "text"
    CHANNEL = "channel"
    USER = "user"
    USERS = "users"


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def encode(self) -> str:
        return self.model_dump_json(exclude_none=True)

    @classmethod
    def decode(cls, raw: str | None) -> Self:
        try:
            if raw is not None and len(raw) > MAX_VALUE_CHARS:
                raise ValueError("too long")
            return cls.model_validate(json.loads(raw or ""))
        except (ValueError, ValidationError, RecursionError):
            # A value Baton did not write (or an old format): treat it as a thing not found.
            raise NotFound("That button is no longer valid.") from None


class StepRef(_Value):
    """Names a step of a run: the value of every step button and step modal's metadata."""

    run: str
    step: str


class WorkflowRef(_Value):
    """The builder modal's metadata: which workflow it edits (None for a new one), and
    whether it was opened by `new` (saving it then only ever creates)."""

    name: str | None = None
    channel: str = ""
    new: bool | None = None


# A button value holds at most 2000 characters: room for this many timer ids, and no more is
# accepted from a click (a forged value naming more is refused).
MAX_SNOOZE_IDS = 100


class TimerRef(_Value):
    """A reminder message's snooze buttons: which reminders to push back."""

    timers: Annotated[list[RowId], Field(max_length=MAX_SNOOZE_IDS)]
