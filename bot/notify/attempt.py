"""One delivery of one notification by this replica, and what its batch shares."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.sql.dml import UpdateBase

from bot.core.errors import NotFound
from storage.models import Outbox, Run, StepRun


class PermanentFailure(Exception):
    """A notification that can never be delivered (its subject is gone)."""


class LeaseLost(Exception):
    """Another replica took the notification over; this one must not touch Slack for it."""


class Deferred(Exception):
    """The channel is paced (or paused by a 429) until `until`, epoch seconds."""

    def __init__(self, until: float) -> None:
        super().__init__(f"channel busy until {until:.3f}")
        self.until = until


@dataclass(frozen=True, slots=True)
class Write:
    """A write a handler leaves for the transaction that records its notification's posts.
    `statement` takes `params` as bind parameters; the writes of one statement (the same
    object) made by a batch's notifications run as one executemany."""

    statement: UpdateBase
    params: dict[str, Any]


@dataclass
class Batch:
    """What a claimed batch's handlers need, read in the claim's transaction."""

    runs: dict[int, Run] = field(default_factory=dict)
    steps: dict[int, list[StepRun]] = field(default_factory=dict)
    clients: dict[str, AsyncWebClient | NotFound] = field(default_factory=dict)


@dataclass
class Attempt:
    """One delivery of one notification by this replica."""

    row: Outbox
    # A previous attempt may have posted without recording it: look before posting.
    in_doubt: bool
    posted: dict[str, dict[str, str]]
    batch: Batch = field(default_factory=Batch)
    # Slots reserved with the claim, by channel: the slot's epoch seconds, or the Deferred
    # that the channel's pacing gave instead.
    reserved: dict[str, float | Deferred] = field(default_factory=dict)
    # A chat.postMessage whose outcome is unknown (sent, no answer, or a 5xx).
    post_in_flight: bool = False
    # Posts recorded in `posted` but not yet in the row, and writes left for the same
    # transaction: both go with the row's next conditional update.
    unsaved: bool = False
    writes: list[Write] = field(default_factory=list)
    # Not yet reported its outcome (outcomes of a batch wait for each other, briefly).
    working: bool = False
    _counts: Counter[str] = field(default_factory=Counter)

    def part(self, channel: str, thread_ts: str | None) -> str:
        """A stable name for this post within the notification (its nth into this place)."""
        place = f"{channel}/{thread_ts}" if thread_ts else channel
        self._counts[place] += 1
        return f"{place}#{self._counts[place]}"

    def record(self, part: str, message: dict[str, str]) -> None:
        self.posted[part] = message
        self.unsaved = True

    def saved(self) -> None:
        self.unsaved = False
        self.writes.clear()


def aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
