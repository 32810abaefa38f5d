"""The outbox, the one port for outgoing Slack traffic: semantic notifications written in the
transaction of the change that causes them (`Work.tell`, bot/work.py), delivered later by the
deliverer. Here: when a note is due, and the conversations that order delivery."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = [
    "AT_ONCE",
    "home_conversation",
    "step_conversation",
    "steps_conversation",
]

# Notes are due at once, whatever the business clock says; only retries set a real (wall) time.
AT_ONCE = datetime(2000, 1, 1, tzinfo=UTC)


def step_conversation(step_run_id: int) -> str:
    return f"step:{step_run_id}"


def steps_conversation(run_id: int | None, user_id: str) -> str:
    """Where a person's grouped step DM of a run queues (see bot.notify.notes.step_dms)."""
    return f"steps:{run_id}:{user_id}"


def home_conversation(user_id: str) -> str:
    return f"home:{user_id}"
