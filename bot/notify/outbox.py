"""The one port for outgoing Slack traffic: semantic notifications written in the transaction
of the change that causes them, delivered later by `bot.notify`."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.clock import Clock
from storage.models import Outbox

AT_ONCE = datetime(2000, 1, 1, tzinfo=UTC)


class Note(StrEnum):
    RUN_CARD = "run_card"  # post or update a run's card: {run_id}
    RUN_EVENT = "run_event"  # a line in the card's thread: {run_id, text}
    # DM the step's assignee(s) with buttons: {step_run_id}; or one person several steps of a
    # run in one message: {run_id, user_id, step_run_ids}
    STEP_READY = "step_ready"
    STEP_REFRESH = "step_refresh"  # redraw every message of a step: {step_run_id}
    DIRECT = "direct"  # a DM to one person: {user_id, text, blocks?}
    REDRAW = "redraw"  # replace a posted message: {channel_id, ts, text, blocks}
    HOME = "home"  # publish someone's App Home: {user_id}
    REMINDER = "reminder"  # {user_id, timer_ids}
    DIGEST = "digest"  # {channel_id, subscription_id?}


def enqueue(
    session: AsyncSession,
    clock: Clock,
    *,
    team_id: str,
    kind: Note,
    conversation: str,
    payload: dict[str, Any],
) -> Outbox:
    """Add a notification to the caller's transaction; it is sent only if that commits.

    `conversation` orders delivery: notifications with the same key go out in insertion order.
    """
    row = Outbox(
        team_id=team_id,
        kind=kind.value,
        conversation=conversation,
        payload=payload,
        # Due at once, whatever the business clock says; only retries set a real (wall) time.
        next_attempt_at=AT_ONCE,
        created_at=clock.now(),
    )
    session.add(row)
    return row


def step_conversation(step_run_id: int) -> str:
    return f"step:{step_run_id}"


def steps_conversation(run_id: int | None, user_id: str) -> str:
    """Where a person's grouped step DM of a run queues (see bot.notify.notes.step_dms)."""
    return f"steps:{run_id}:{user_id}"


def home_conversation(user_id: str) -> str:
    return f"home:{user_id}"
