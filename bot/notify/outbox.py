"""The one port for outgoing Slack traffic: semantic notifications written in the transaction
of the change that causes them, delivered later by `bot.notify`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.clock import Clock
from storage.models import Outbox
from storage.vocabulary import Note

__all__ = [
    "AT_ONCE",
    "Note",
    "enqueue",
    "home_conversation",
    "step_conversation",
    "steps_conversation",
]

AT_ONCE = datetime(2000, 1, 1, tzinfo=UTC)


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
        kind=kind,
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
