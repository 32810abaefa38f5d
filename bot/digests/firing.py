"""The sweep's digest job: every due subscription fires once per occurrence.

A subscription is claimed by moving its `next_fire_at` from the value read to the next
occurrence after now, a compare-and-set, so two replicas cannot both fire it; after downtime
that skipped several occurrences it fires once and moves on to the next future one.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, select

from bot.digests.cadence import next_fire
from bot.digests.delivery import deliver_digest
from bot.digests.subscriptions import FIRST_WINDOW, Window, queue_digest
from bot.notify.deliverer import Deliverer
from bot.runtime import Runtime
from bot.timing.sweep import Sweeper
from bot.work import begin
from storage.db import is_postgres
from storage.models import DigestSubscription
from storage.vocabulary import Note
from storage.workspaces import installed

BATCH = 100


async def fire_due_digests(runtime: Runtime, now: datetime) -> int:
    """Queue a digest for every subscription due at `now`; returns how many fired."""
    fired = 0
    while True:
        claimed, selected = await _fire_batch(runtime, now)
        fired += claimed
        if selected < BATCH:
            break
    return fired


async def _fire_batch(runtime: Runtime, now: datetime) -> tuple[int, int]:
    fired = 0
    async with begin(runtime) as work:
        query = (
            select(DigestSubscription)
            .where(
                col(DigestSubscription.active).is_(True),
                col(DigestSubscription.next_fire_at) <= now,
                installed(col(DigestSubscription.team_id)),
            )
            .order_by(col(DigestSubscription.next_fire_at), col(DigestSubscription.id))
            .limit(BATCH)
        )
        if is_postgres(runtime.engine):
            query = query.with_for_update(skip_locked=True)
        due = list((await work.session.exec(query)).all())
        for row in due:
            result = await work.session.exec(
                update(DigestSubscription)
                .where(
                    col(DigestSubscription.id) == row.id,
                    col(DigestSubscription.active).is_(True),
                    col(DigestSubscription.next_fire_at) == row.next_fire_at,
                )
                .values(next_fire_at=next_fire(row.cron, row.tz, now), last_sent_at=now)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:
                continue  # another replica fired it first
            queue_digest(
                work,
                team_id=row.team_id,
                channel_id=row.channel_id,
                subscription_id=row.id,
                window=Window(row.last_sent_at or now - FIRST_WINDOW, now),
            )
            fired += 1
    return fired, len(due)


def register(sweeper: Sweeper, deliverer: Deliverer) -> None:
    """Fire due subscriptions on every sweep; deliver digest notes as they stand then."""
    sweeper.on_tick("digests", fire_due_digests)
    deliverer.handle(Note.DIGEST, deliver_digest)
