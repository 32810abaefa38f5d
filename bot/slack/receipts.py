"""Pruning the receipts of Slack requests and events once no replay or retry can match them.

Slack signs each request with a timestamp and Baton refuses any older than 5 minutes, and it
retries an event at most about 5 minutes after sending it; past that, a `slack_request` or
`slack_event` row guards against nothing and only grows the table. Rows are deleted in bounded
batches, each its own short transaction, so a sweep after long downtime never holds a big lock;
deleting is idempotent, so replicas sweeping at once simply share the work. A request still
unfinished (its listener has not run to the end) is never deleted: the sweep re-runs it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, tuple_
from sqlmodel import col, select

from bot.runtime import Runtime
from storage.db import unit_of_work
from storage.models import SlackEvent, SlackRequest

# Slack's replay window (5 minutes) plus a margin for clock skew and its last retry.
KEEP = timedelta(minutes=15)
BATCH = 500
MAX_BATCHES = 20


async def prune_receipts(runtime: Runtime, _now: datetime) -> int:
    """Delete receipts older than KEEP; how many went. A tick job of the sweep."""
    # Requests are stamped with wall time, events with the business clock (as they are written).
    requests_before = runtime.wall.now() - KEEP
    events_before = runtime.clock.now() - KEEP
    pruned = 0
    for _ in range(MAX_BATCHES):
        gone = await _prune_requests(runtime, requests_before)
        gone += await _prune_events(runtime, events_before)
        pruned += gone
        if gone == 0:
            break
    return pruned


async def _prune_requests(runtime: Runtime, before: datetime) -> int:
    oldest = (
        select(col(SlackRequest.team_id), col(SlackRequest.trigger_id))
        .where(
            col(SlackRequest.done_at).is_not(None),
            col(SlackRequest.done_at) < before,
        )
        .limit(BATCH)
    )
    async with unit_of_work(runtime.sessions) as session:
        keys = [tuple(row) for row in (await session.exec(oldest)).all()]
        if keys:
            await session.exec(
                delete(SlackRequest).where(
                    tuple_(col(SlackRequest.team_id), col(SlackRequest.trigger_id)).in_(keys),
                    col(SlackRequest.done_at).is_not(None),
                )
            )
    return len(keys)


async def _prune_events(runtime: Runtime, before: datetime) -> int:
    oldest = (
        select(col(SlackEvent.event_id)).where(col(SlackEvent.received_at) < before).limit(BATCH)
    )
    async with unit_of_work(runtime.sessions) as session:
        ids = list((await session.exec(oldest)).all())
        if ids:
            await session.exec(delete(SlackEvent).where(col(SlackEvent.event_id).in_(ids)))
    return len(ids)
