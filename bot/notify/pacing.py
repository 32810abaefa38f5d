"""Pacing of chat.postMessage per Slack channel, shared by every replica.

A post goes about once a second per channel, whichever conversation key or replica sends it:
each post reserves its slot in `channel_pace` (rows locked in key order on PostgreSQL, under
the write lock on SQLite). A 429 pushes that channel's next slot past its Retry-After for
every replica. Other methods keep to their tier per process (bot/slack/limits.py).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, bindparam, case, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.notify.attempt import Attempt, Deferred, LeaseLost
from bot.notify.claims import CLAIM_WINDOW
from bot.notify.coalescer import Coalescer
from bot.notify.queue import LeasedQueue
from bot.runtime import Runtime
from bot.slack.timers import Timer
from storage.db import is_postgres, unit_of_work
from storage.models import ChannelPace

# A channel whose next free slot is further away than this gives the notification back until
# then, instead of holding its claim asleep.
MAX_PACE_WAIT = 5.0
PACE_MARGIN = 0.1


class ChannelPacing:
    def __init__(
        self, runtime: Runtime, queue: LeasedQueue, channel_interval: float, timer: Timer
    ) -> None:
        self.runtime = runtime
        self._queue = queue
        # Epoch seconds, as the slots shared in the database are; waits are on it too.
        self._timer = timer
        # Posts reserved a second apart may reach Slack a little closer together (network
        # jitter), so slots are a little wider; 0 (tests against the emulator) paces nothing.
        self._spacing = channel_interval + PACE_MARGIN if channel_interval > 0 else 0.0
        self._last_post: dict[tuple[str, str], float] = {}
        self._slots: Coalescer[tuple[Attempt, str], float] = Coalescer(self._reserve_slots)
        self._pauses: Coalescer[tuple[str, str], float] = Coalescer(self._read_pauses)

    async def pace(self, attempt: Attempt, channel: str) -> None:
        """Wait for this channel's next free slot, reserved for us (with the claim, or now with
        a renewal of the lease); Deferred if it is far off or Slack paused the channel (a 429)
        meanwhile. Then keep this process's posts into the channel a slot apart."""
        slot = attempt.reserved.pop(channel, None)
        if isinstance(slot, Deferred):
            raise slot
        if slot is not None and self._spacing and self._timer.time() - slot > CLAIM_WINDOW:
            slot = None  # reserved with the claim, too long ago for the post to keep to it
        if slot is None:
            slot = await self._slots((attempt, channel))
        wait = slot - self._timer.time()
        if wait > 0:
            await self._timer.sleep(wait)
            # A post before ours may have met a 429 while we waited: its Retry-After holds.
            until = await self._pauses((attempt.row.team_id, channel))
            if until > self._timer.time():
                raise Deferred(until)
        await self._keep_gap(attempt.row.team_id, channel)

    async def _keep_gap(self, team_id: str, channel: str) -> None:
        """A reserved slot is kept even when the post before it went out late (a busy event
        loop wakes sleepers late): this process's posts into a channel stay a slot apart."""
        key = (team_id, channel)
        last = self._last_post.get(key)
        if last is not None and (wait := last + self._spacing - self._timer.time()) > 0:
            await self._timer.sleep(wait)
        self._last_post[key] = self._timer.time()

    async def pause_channel(self, team_id: str, channel: str, seconds: float) -> None:
        """Slack said 429: no replica posts into this channel before Retry-After."""
        until = self._timer.time() + seconds
        pace = col(ChannelPace.next_post_at)
        paused = col(ChannelPace.paused_until)
        async with unit_of_work(self.runtime.sessions) as session:
            await session.exec(
                update(ChannelPace)
                .where(col(ChannelPace.team_id) == team_id, col(ChannelPace.channel) == channel)
                .values(
                    next_post_at=case((pace > until, pace), else_=until),
                    paused_until=case((paused > until, paused), else_=until),
                )
                .execution_options(synchronize_session=False)
            )

    async def _reserve_slots(self, requests: list[tuple[Attempt, str]]) -> list[float | Exception]:
        """One transaction for the posts about to go out: renew their notifications' leases
        (writing the posts they recorded since), then reserve a slot for each of those held."""
        attempts = list({id(attempt): attempt for attempt, _ in requests}.values())
        renewals = [(attempt, {"claimed_until": self._queue.lease_end()}) for attempt in attempts]
        async with unit_of_work(self.runtime.sessions) as session:
            held = await self._queue.save(session, renewals)
            places = [(a.row.team_id, channel) for a, channel in requests if a.row.id in held]
            slots = iter(await self.reserve(session, places))
        self._queue.saved(renewals, held)
        return [
            next(slots)
            if attempt.row.id in held
            else LeaseLost(f"outbox {attempt.row.id} was taken over")
            for attempt, _ in requests
        ]

    async def reserve(
        self, session: AsyncSession, places: list[tuple[str, str]], *, window: float = 0.0
    ) -> list[float | Deferred]:
        """Reserve the next free slot of each (team, channel) in `places`, in order (a channel
        named twice gets two slots in a row), held `window` seconds longer than a slot's
        spacing: its epoch seconds, or Deferred when it is more than MAX_PACE_WAIT away or
        Slack paused the channel. Runs after its transaction's first write, so on SQLite the
        write lock is held; PostgreSQL locks the rows in key order."""
        if not places:
            return []
        now = self._timer.time()
        keys = sorted(set(places))
        query = (
            select(
                ChannelPace.team_id,
                ChannelPace.channel,
                ChannelPace.next_post_at,
                ChannelPace.paused_until,
            )
            .where(_place().in_(keys))
            .order_by(col(ChannelPace.team_id), col(ChannelPace.channel))
        )
        if is_postgres(self.runtime.engine):
            query = query.with_for_update()
        found = {
            (team_id, channel): (float(pace), float(paused))
            for team_id, channel, pace, paused in (await session.exec(query)).all()
        }
        paces = dict(found)
        slots: list[float | Deferred] = []
        for place in places:
            pace, paused = paces.get(place, (0.0, 0.0))
            if paused > now or pace > now + MAX_PACE_WAIT:
                slots.append(Deferred(max(paused, pace - MAX_PACE_WAIT)))
                continue
            slot = max(pace, now)
            paces[place] = (slot + self._spacing + (window if self._spacing else 0.0), paused)
            slots.append(slot)
        moved = [
            {"b_team": team_id, "b_channel": channel, "b_next": paces[team_id, channel][0]}
            for team_id, channel in keys
            if (team_id, channel) in found and paces[team_id, channel] != found[team_id, channel]
        ]
        if moved:
            await session.exec(_MOVE_PACE, params=moved)
        new = [key for key in keys if key not in found and key in paces]
        if new:
            made = await session.exec(
                _NEW_PACE["postgresql" if is_postgres(self.runtime.engine) else "sqlite"],
                params=[
                    {
                        "team_id": team_id,
                        "channel": channel,
                        "next_post_at": paces[team_id, channel][0],
                        "paused_until": 0.0,
                    }
                    for team_id, channel in new
                ],
            )
            lost = set(new) - {(team_id, channel) for team_id, channel in made.all()}
            if lost:
                # Another replica made the row meanwhile, and may have taken its first slot.
                again = [i for i, place in enumerate(places) if place in lost]
                retried = await self.reserve(session, [places[i] for i in again], window=window)
                for i, result in zip(again, retried, strict=True):
                    slots[i] = result
        return slots

    async def _read_pauses(self, places: list[tuple[str, str]]) -> list[float | Exception]:
        """Until when Slack paused each (team, channel) (0: it did not)."""
        async with unit_of_work(self.runtime.sessions) as session:
            rows = await session.exec(
                select(ChannelPace.team_id, ChannelPace.channel, ChannelPace.paused_until).where(
                    _place().in_(sorted(set(places)))
                )
            )
            paused = {(team_id, channel): float(until) for team_id, channel, until in rows.all()}
        return [paused.get(place, 0.0) for place in places]


def _place() -> ColumnElement[Any]:
    """A channel_pace row's key, (team, channel), for `IN` a list of them."""
    return tuple_(col(ChannelPace.team_id), col(ChannelPace.channel))


_NEW_PACE = {
    "postgresql": postgresql.insert(ChannelPace)
    .on_conflict_do_nothing()
    .returning(col(ChannelPace.team_id), col(ChannelPace.channel)),
    "sqlite": sqlite.insert(ChannelPace)
    .on_conflict_do_nothing()
    .returning(col(ChannelPace.team_id), col(ChannelPace.channel)),
}
_MOVE_PACE = (
    update(ChannelPace)
    .where(
        col(ChannelPace.team_id) == bindparam("b_team"),
        col(ChannelPace.channel) == bindparam("b_channel"),
    )
    .values(next_post_at=bindparam("b_next"))
    .execution_options(dml_strategy="core_only")
)
