"""What each kind of outbox note carries: one typed payload per shape, written with
`Work.tell(note=...)` (its kind follows from its type) and read back with `decode`.

`encode()` writes exactly the JSON stored before these types existed, key for key, so rows
written then still decode. `decode` accepts what those rows hold and raises `BadPayload` (a
permanent failure of that one delivery) for anything else, such as a hand-edited row."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from bot.notify.attempt import PermanentFailure
from storage.models import Outbox
from storage.vocabulary import Note

__all__ = [
    "BadPayload",
    "Digest",
    "Direct",
    "Home",
    "NotePayload",
    "Redraw",
    "Reminder",
    "RunCard",
    "RunEvent",
    "StepReady",
    "StepRefresh",
    "StepsReady",
    "decode",
    "decode_ready",
    "run_id_of",
    "subject",
]

Blocks = list[dict[str, Any]]


class BadPayload(PermanentFailure):
    """A note whose payload is not what its kind carries: no attempt will deliver it."""


class NotePayload(BaseModel):
    # Keys a reader does not know are ignored, as they always were.
    model_config = ConfigDict(frozen=True, extra="ignore")

    KIND: ClassVar[Note]

    @abstractmethod
    def encode(self) -> dict[str, Any]:
        """The JSON stored for the note (each payload writes its own shape)."""

    @classmethod
    def decode(cls, raw: object) -> Self:
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in error['loc']) or 'payload'}: {error['msg']}"
                for error in exc.errors()
            )
            raise BadPayload(f"{cls.KIND} note's payload does not decode ({problems})") from None


class RunCard(NotePayload):
    """Post or redraw a run's card."""

    KIND = Note.RUN_CARD
    run_id: int

    def encode(self) -> dict[str, Any]:
        return {"run_id": self.run_id}


class RunEvent(NotePayload):
    """A line in the thread of a run's card."""

    KIND = Note.RUN_EVENT
    run_id: int
    text: str

    def encode(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "text": self.text}


class StepReady(NotePayload):
    """DM a step's assignee(s) with its buttons."""

    KIND = Note.STEP_READY
    step_run_id: int

    def encode(self) -> dict[str, Any]:
        return {"step_run_id": self.step_run_id}


class StepsReady(NotePayload):
    """One person's several steps of a run, ready together, in one message."""

    KIND = Note.STEP_READY
    run_id: int
    user_id: str
    step_run_ids: tuple[int, ...]

    def encode(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "user_id": self.user_id,
            "step_run_ids": [*self.step_run_ids],
        }


class StepRefresh(NotePayload):
    """Redraw every message of a step."""

    KIND = Note.STEP_REFRESH
    step_run_id: int

    def encode(self) -> dict[str, Any]:
        return {"step_run_id": self.step_run_id}


class Direct(NotePayload):
    """A DM to one person. `channel_trouble` names a channel Baton can no longer post in, when
    that is what the DM tells its owner (so they are told once)."""

    KIND = Note.DIRECT
    user_id: str
    text: str
    blocks: Blocks | None = None
    channel_trouble: str | None = None

    def encode(self) -> dict[str, Any]:
        stored: dict[str, Any] = {"user_id": self.user_id}
        if self.channel_trouble is not None:
            stored["channel_trouble"] = self.channel_trouble
        stored["text"] = self.text
        if self.blocks:
            stored["blocks"] = self.blocks
        return stored


class Redraw(NotePayload):
    """Replace a posted message."""

    KIND = Note.REDRAW
    channel_id: str
    ts: str
    text: str
    blocks: Blocks

    def encode(self) -> dict[str, Any]:
        return {
            "channel_id": self.channel_id,
            "ts": self.ts,
            "text": self.text,
            "blocks": self.blocks,
        }


class Home(NotePayload):
    """Publish someone's App Home."""

    KIND = Note.HOME
    user_id: str

    def encode(self) -> dict[str, Any]:
        return {"user_id": self.user_id}


class Reminder(NotePayload):
    """One person's reminders gathered by a sweep, as one message."""

    KIND = Note.REMINDER
    user_id: str
    timer_ids: tuple[int, ...] = ()

    def encode(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "timer_ids": [*self.timer_ids]}


class Digest(NotePayload):
    """A channel's status digest of runs finished in (since, until]; `asked` when someone
    typed `digest now`, so it goes out even with nothing new."""

    KIND = Note.DIGEST
    channel_id: str
    subscription_id: int | None = None
    since: datetime
    until: datetime
    asked: bool = False

    @field_validator("since", "until", mode="before")
    @classmethod
    def _iso(cls, value: object) -> object:
        # Read as they were written (isoformat), keeping the offset exactly as stored.
        return datetime.fromisoformat(value) if isinstance(value, str) else value

    def encode(self) -> dict[str, Any]:
        return {
            "channel_id": self.channel_id,
            "subscription_id": self.subscription_id,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "asked": self.asked,
        }


def decode_ready(raw: object) -> StepReady | StepsReady:
    """A step-ready note: one step's, or (naming `step_run_ids`) a person's several steps."""
    if isinstance(raw, Mapping) and "step_run_ids" in raw:
        return StepsReady.decode(raw)
    return StepReady.decode(raw)


_DECODERS: dict[str, Callable[[object], NotePayload]] = {
    Note.RUN_CARD: RunCard.decode,
    Note.RUN_EVENT: RunEvent.decode,
    Note.STEP_READY: decode_ready,
    Note.STEP_REFRESH: StepRefresh.decode,
    Note.DIRECT: Direct.decode,
    Note.REDRAW: Redraw.decode,
    Note.HOME: Home.decode,
    Note.REMINDER: Reminder.decode,
    Note.DIGEST: Digest.decode,
}


def decode(kind: str, raw: object) -> NotePayload:
    """A payload as its kind's type (BadPayload if it is not one)."""
    decoder = _DECODERS.get(kind)
    if decoder is None:
        raise BadPayload(f"no payload type for {kind} notes")
    return decoder(raw)


def run_id_of(row: Outbox) -> int | None:
    """The run a notification is about, if it names one (its handler judges a bad payload)."""
    return subject(row.kind, row.payload)[0]


def subject(kind: str, raw: object) -> tuple[int | None, int | None]:
    """The (run, step) a note is about, as far as its payload names them; (None, None) for a
    payload that does not decode, which its delivery reports."""
    try:
        note = decode(kind, raw)
    except BadPayload:
        return None, None
    if isinstance(note, RunCard | RunEvent | StepsReady):
        return note.run_id, None
    if isinstance(note, StepReady | StepRefresh):
        return None, note.step_run_id
    return None, None
