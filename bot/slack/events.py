"""Slack resends an event it thinks we missed; each event id is acted on once."""

from __future__ import annotations

from sqlmodel import col

from bot.runtime import Runtime
from storage.db import unit_of_work
from storage.models import SlackEvent
from storage.upserts import insert_for


async def first_sight(runtime: Runtime, *, team_id: str, event_id: str) -> bool:
    """Record the event id; False when it was already recorded (a retry or a replay)."""
    async with unit_of_work(runtime.sessions) as session:
        inserted = await session.exec(
            insert_for(session, SlackEvent)
            .values(event_id=event_id, team_id=team_id, received_at=runtime.clock.now())
            .on_conflict_do_nothing(index_elements=["event_id"])
            .returning(col(SlackEvent.event_id))
        )
        return inserted.first() is not None
