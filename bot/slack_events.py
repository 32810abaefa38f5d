"""Slack resends an event it thinks we missed; each event id is acted on once."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from bot.runtime import Runtime
from storage.db import unit_of_work
from storage.models import SlackEvent


async def first_sight(runtime: Runtime, *, team_id: str, event_id: str) -> bool:
    """Record the event id; False when it was already recorded (a retry or a replay)."""
    try:
        async with unit_of_work(runtime.sessions) as session:
            session.add(
                SlackEvent(event_id=event_id, team_id=team_id, received_at=runtime.clock.now())
            )
    except IntegrityError:
        return False
    return True
