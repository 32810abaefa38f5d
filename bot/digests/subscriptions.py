"""Digest subscriptions: one per channel, on a cadence in the subscriber's zone, stored
explicitly (what they typed, its cron, their zone, the next fire time) and shown back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.errors import Conflict
from bot.digests.cadence import When, describe_when, next_fire
from bot.notify.payloads import Digest
from bot.runtime import Runtime
from bot.slack.text import when
from bot.work import Work, begin
from storage.db import unit_of_work
from storage.models import DigestSubscription
from storage.upserts import insert_for

# What "finished since the last digest" covers when a channel has had none yet.
FIRST_WINDOW = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Window:
    """The span a digest reports finished runs for: (since, until]."""

    since: datetime
    until: datetime


def describe(subscription: DigestSubscription) -> str:
    """The subscription as its channel reads it back."""
    head = (
        f"A status digest goes to <#{subscription.channel_id}> "
        f"{describe_when(subscription.spec)} ({subscription.tz})"
    )
    if subscription.next_fire_at is None:
        return head + "."
    return f"{head}, next {when(subscription.next_fire_at)}."


async def find(
    session: AsyncSession, *, team_id: str, channel_id: str
) -> DigestSubscription | None:
    return (
        await session.exec(
            select(DigestSubscription).where(
                col(DigestSubscription.team_id) == team_id,
                col(DigestSubscription.channel_id) == channel_id,
            )
        )
    ).first()


async def subscribe(
    runtime: Runtime, *, team_id: str, user_id: str, channel_id: str, cadence: When
) -> DigestSubscription:
    """Start (or change) the channel's digest, in the subscriber's own zone."""
    tz = await runtime.directory.zone(team_id, user_id)
    try:
        async with begin(runtime) as work:
            now = work.now
            # Insert-or-ignore, then read: two people subscribing a channel at once both land.
            await work.session.exec(
                insert_for(work.session, DigestSubscription)
                .values(
                    team_id=team_id,
                    channel_id=channel_id,
                    spec="",
                    cron="",
                    tz=tz,
                    created_by=user_id,
                    active=False,
                    created_at=now,
                )
                .on_conflict_do_nothing(index_elements=["team_id", "channel_id"])
            )
            row = await find(work.session, team_id=team_id, channel_id=channel_id)
            assert row is not None
            row.spec, row.cron, row.tz, row.created_by = cadence.spec, cadence.cron, tz, user_id
            row.active = True
            row.next_fire_at = next_fire(cadence.cron, tz, now)
            work.session.add(row)
            work.audit(
                team_id=team_id,
                actor_id=user_id,
                action="digest.subscribed",
                channel=channel_id,
                spec=cadence.spec,
                tz=tz,
            )
    except IntegrityError:
        raise Conflict("Someone set this channel's digest at the same moment; try again.") from None
    return row


async def unsubscribe(
    runtime: Runtime, *, team_id: str, user_id: str, channel_id: str
) -> DigestSubscription | None:
    async with begin(runtime) as work:
        row = await find(work.session, team_id=team_id, channel_id=channel_id)
        if row is None or not row.active:
            return None
        row.active = False
        row.next_fire_at = None
        work.session.add(row)
        work.audit(
            team_id=team_id,
            actor_id=user_id,
            action="digest.unsubscribed",
            channel=channel_id,
        )
    return row


async def subscription(
    runtime: Runtime, *, team_id: str, channel_id: str
) -> DigestSubscription | None:
    async with unit_of_work(runtime.sessions) as session:
        row = await find(session, team_id=team_id, channel_id=channel_id)
    return row if row is not None and row.active else None


def queue_digest(
    work: Work,
    *,
    team_id: str,
    channel_id: str,
    subscription_id: int | None,
    window: Window,
    asked: bool = False,
) -> None:
    """`asked`: someone typed `digest now`, so it goes out even when it has nothing new."""
    # The channel is the conversation, so the digest keeps its place among the run cards.
    work.tell(
        team_id=team_id,
        conversation=channel_id,
        note=Digest(
            channel_id=channel_id,
            subscription_id=subscription_id,
            since=window.since,
            until=window.until,
            asked=asked,
        ),
    )


async def said_quiet(runtime: Runtime, subscription_id: int) -> bool:
    """Whether the channel's last digest said "all quiet"."""
    async with unit_of_work(runtime.sessions) as session:
        row = await session.get(DigestSubscription, subscription_id)
        return row is not None and row.said_quiet


async def remember_quiet(runtime: Runtime, subscription_id: int, *, quiet: bool) -> None:
    async with unit_of_work(runtime.sessions) as session:
        await session.exec(
            update(DigestSubscription)
            .where(col(DigestSubscription.id) == subscription_id)
            .values(said_quiet=quiet)
            .execution_options(synchronize_session=False)
        )


async def send_now(runtime: Runtime, *, team_id: str, user_id: str, channel_id: str) -> None:
    """`digest now`: a digest for the channel, covering what finished since its last one.

    A channel without a subscription gets an inactive row all the same: it remembers when its
    last digest went out, so the next one does not repeat what this one reports.
    """
    try:
        async with begin(runtime) as work:
            now = work.now
            created = await work.session.exec(
                insert_for(work.session, DigestSubscription)
                .values(
                    team_id=team_id,
                    channel_id=channel_id,
                    spec="",
                    cron="",
                    tz="UTC",
                    created_by=user_id,
                    active=False,
                    created_at=now,
                    last_sent_at=now,
                )
                .on_conflict_do_nothing(index_elements=["team_id", "channel_id"])
                .returning(col(DigestSubscription.id))
            )
            new_id = created.first()
            row = await find(work.session, team_id=team_id, channel_id=channel_id)
            assert row is not None
            if new_id is not None:
                last = None
            else:
                last = row.last_sent_at
                await _mark_sent(work.session, row, now)
            queue_digest(
                work,
                team_id=team_id,
                channel_id=channel_id,
                subscription_id=row.id,
                window=Window(last or now - FIRST_WINDOW, now),
                asked=True,
            )
    except IntegrityError:
        raise Conflict("A digest for this channel is going out right now.") from None


async def _mark_sent(session: AsyncSession, row: DigestSubscription, now: datetime) -> None:
    """Compare-and-set on the last digest's time, so a scheduled digest firing at this moment
    cannot report the same finished runs twice."""
    last = row.last_sent_at
    unchanged = (
        col(DigestSubscription.last_sent_at).is_(None)
        if last is None
        else col(DigestSubscription.last_sent_at) == last
    )
    result = await session.exec(
        update(DigestSubscription)
        .where(col(DigestSubscription.id) == row.id, unchanged)
        .values(last_sent_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise Conflict("A digest for this channel is going out right now.")
