"""Outbox note payloads (bot/notify/payloads.py): each kind's type writes exactly the JSON stored
before the types existed, reads it back, and refuses a payload that is not its kind's."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.notify.attempt import PermanentFailure
from bot.notify.payloads import (
    BadPayload,
    Digest,
    Direct,
    Home,
    NotePayload,
    Redraw,
    Reminder,
    RunCard,
    RunEvent,
    StepReady,
    StepRefresh,
    StepsReady,
    decode,
    decode_ready,
    subject,
)
from storage.vocabulary import Note

SINCE = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
UNTIL = datetime(2026, 3, 2, 9, 0, tzinfo=timezone(timedelta(hours=2)))
BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "x"}}]

# Each payload type's notes, and the JSON the code before the types stored for them.
STORED: list[tuple[NotePayload, dict[str, object]]] = [
    (RunCard(run_id=7), {"run_id": 7}),
    (RunEvent(run_id=7, text="Ana skipped `a`"), {"run_id": 7, "text": "Ana skipped `a`"}),
    (StepReady(step_run_id=3), {"step_run_id": 3}),
    (
        StepsReady(run_id=7, user_id="U1", step_run_ids=(3, 4)),
        {"run_id": 7, "user_id": "U1", "step_run_ids": [3, 4]},
    ),
    (StepRefresh(step_run_id=3), {"step_run_id": 3}),
    (Direct(user_id="U1", text="hi"), {"user_id": "U1", "text": "hi"}),
    (
        Direct(user_id="U1", text="hi", blocks=BLOCKS),
        {"user_id": "U1", "text": "hi", "blocks": BLOCKS},
    ),
    (
        Direct(user_id="U1", text="gone", channel_trouble="C1"),
        {"user_id": "U1", "channel_trouble": "C1", "text": "gone"},
    ),
    (
        Redraw(channel_id="D1", ts="1.2", text="t", blocks=BLOCKS),
        {"channel_id": "D1", "ts": "1.2", "text": "t", "blocks": BLOCKS},
    ),
    (Home(user_id="U1"), {"user_id": "U1"}),
    (Reminder(user_id="U1", timer_ids=(5, 6)), {"user_id": "U1", "timer_ids": [5, 6]}),
    (
        Digest(channel_id="C1", subscription_id=2, since=SINCE, until=UNTIL, asked=True),
        {
            "channel_id": "C1",
            "subscription_id": 2,
            "since": SINCE.isoformat(),
            "until": UNTIL.isoformat(),
            "asked": True,
        },
    ),
    (
        Digest(channel_id="C1", subscription_id=None, since=SINCE, until=UNTIL),
        {
            "channel_id": "C1",
            "subscription_id": None,
            "since": "2026-03-01T09:00:00+00:00",
            "until": "2026-03-02T09:00:00+02:00",
            "asked": False,
        },
    ),
]


@pytest.mark.parametrize(("note", "stored"), STORED)
def test_each_payload_writes_the_stored_shape_and_reads_it_back(
    note: NotePayload, stored: dict[str, object]
) -> None:
    encoded = note.encode()
    assert encoded == stored
    assert list(encoded) == list(stored)  # the keys in the order they were written
    # As the JSON column gives it back.
    assert decode(note.KIND, json.loads(json.dumps(encoded))) == note


def test_shapes_stored_before_the_types_decode() -> None:
    # Written with the timer ids or subscription left out, or ids as text.
    assert Reminder.decode({"user_id": "U1"}) == Reminder(user_id="U1", timer_ids=())
    assert Digest.decode(
        {"channel_id": "C1", "since": SINCE.isoformat(), "until": UNTIL.isoformat()}
    ) == Digest(channel_id="C1", since=SINCE, until=UNTIL)
    assert RunCard.decode({"run_id": "7"}) == RunCard(run_id=7)
    # Empty blocks were never stored.
    assert Direct(user_id="U1", text="hi", blocks=[]).encode() == {"user_id": "U1", "text": "hi"}
    # Keys a reader does not know are ignored.
    assert Home.decode({"user_id": "U1", "extra": 1}) == Home(user_id="U1")
    # A digest's window keeps the offset it was written with.
    until = Digest.decode(Digest(channel_id="C1", since=SINCE, until=UNTIL).encode()).until
    assert until.utcoffset() == timedelta(hours=2)
    assert until.isoformat() == UNTIL.isoformat()


def test_a_step_ready_note_is_one_step_or_several() -> None:
    assert decode_ready({"step_run_id": 3}) == StepReady(step_run_id=3)
    assert decode_ready({"run_id": 7, "user_id": "U1", "step_run_ids": [3, 4]}) == StepsReady(
        run_id=7, user_id="U1", step_run_ids=(3, 4)
    )
    assert decode(Note.STEP_READY, {"step_run_id": 3}) == StepReady(step_run_id=3)


@pytest.mark.parametrize(
    ("kind", "raw"),
    [
        (Note.RUN_CARD, {}),
        (Note.RUN_CARD, {"run_id": "seven"}),
        (Note.RUN_EVENT, {"run_id": 7}),
        (Note.STEP_READY, {"run_id": 7, "step_run_ids": [3]}),
        (Note.STEP_REFRESH, None),
        (Note.DIRECT, {"text": "hi"}),
        (Note.REDRAW, {"channel_id": "D1", "ts": "1.2", "text": "t"}),
        (Note.HOME, []),
        (Note.REMINDER, {"user_id": "U1", "timer_ids": ["x"]}),
        (Note.DIGEST, {"channel_id": "C1", "since": "yesterday", "until": "now"}),
        ("no_such_kind", {}),
    ],
)
def test_a_payload_that_is_not_its_kinds_fails_its_delivery_for_good(
    kind: str, raw: object
) -> None:
    with pytest.raises(BadPayload) as failed:
        decode(kind, raw)
    assert isinstance(failed.value, PermanentFailure)  # the deliverer marks it dead
    assert kind in str(failed.value)
    assert subject(kind, raw) == (None, None)


def test_the_subject_of_a_note_is_its_run_or_step() -> None:
    assert subject(Note.RUN_CARD, {"run_id": 7}) == (7, None)
    assert subject(Note.RUN_EVENT, {"run_id": 7, "text": "t"}) == (7, None)
    assert subject(Note.STEP_READY, {"run_id": 7, "user_id": "U", "step_run_ids": [3]}) == (
        7,
        None,
    )
    assert subject(Note.STEP_READY, {"step_run_id": 3}) == (None, 3)
    assert subject(Note.STEP_REFRESH, {"step_run_id": 3}) == (None, 3)
    assert subject(Note.HOME, {"user_id": "U1"}) == (None, None)
