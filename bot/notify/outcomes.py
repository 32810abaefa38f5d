"""What becomes of an attempt: sent, tried again later (growing delays, 429s and pacing not
counted as failures), or dead, with the run's owner told once about a channel gone."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.notify.attempt import Attempt
from bot.notify.outbox import AT_ONCE
from bot.notify.payloads import BadPayload, Direct, subject
from bot.notify.posting import maybe_done, slack_error
from bot.notify.queue import LeasedQueue
from bot.runtime import Runtime
from bot.slack.limits import retry_after
from storage.db import unit_of_work
from storage.models import Outbox, Run, StepRun
from storage.vocabulary import Note, NoteState

log = logging.getLogger("baton.delivery")

# Transient failures are retried with growing delays (capped at 5 minutes) for about a day.
MAX_ATTEMPTS = 300
MAX_BACKOFF = 300.0
BACKOFF = BackoffRetryIntervalCalculator(backoff_factor=1.0)
# The workspace's token no longer works: nobody there can be told.
AUTH_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "token_revoked", "account_inactive", "team_access_not_granted"}
)
# Slack's answers when a channel cannot take posts at all (gone, archived, Baton removed).
CHANNEL_GONE = frozenset({"channel_not_found", "is_archived", "not_in_channel"})
TOLD_LOOKBACK = 200  # an owner's latest DMs searched for an earlier word about a channel


def backoff(attempts: int) -> float:
    return min(BACKOFF.calculate_sleep_duration(attempts), MAX_BACKOFF)


class Outcomes:
    def __init__(self, runtime: Runtime, queue: LeasedQueue) -> None:
        self.runtime = runtime
        self._queue = queue

    async def failed(self, attempt: Attempt, exc: SlackApiError) -> None:
        error = slack_error(exc)
        status = exc.response.status_code if exc.response is not None else 0
        seconds = retry_after(exc)
        metrics = self.runtime.metrics
        if seconds is not None:
            metrics.retries.labels("ratelimited").inc()
            await self.retry(attempt, "ratelimited", seconds, counts=False)
        elif maybe_done(exc):
            metrics.retries.labels("server_error").inc()
            reason = f"{status} {error}".strip()
            await self.retry(attempt, reason, backoff(attempt.row.attempts))
        else:
            await self.dead(attempt, error or f"HTTP {status}", tell_owner=error not in AUTH_ERRORS)

    async def retry(
        self, attempt: Attempt, reason: str, delay: float, *, counts: bool = True
    ) -> None:
        """Try again after `delay` seconds; 429s and pacing do not count as failed attempts."""
        row = attempt.row
        attempts = row.attempts + (1 if counts else 0)
        if attempts >= MAX_ATTEMPTS:
            await self.dead(attempt, f"gave up after {attempts} attempts: {reason}")
            return
        delay = max(delay, 0.0)
        until = self.runtime.wall.now() + timedelta(seconds=delay)
        values: dict[str, Any] = {
            "attempts": attempts,
            "last_error": reason[:500],
            "next_attempt_at": until,
        }
        uncertain = attempt.in_doubt or attempt.post_in_flight
        if uncertain or attempt.posted:
            # Part of it may be in Slack: the claim stays (so no reminder merges into the
            # row) until the next attempt, which looks for unrecorded parts before posting.
            values["claimed_until"] = until
        else:
            values.update(claimed_by=None, claimed_until=None)
        if not uncertain:
            values["started_at"] = None
        if not await self._queue.release(attempt, values):
            return
        log.info("outbox %s retry in %.1fs: %s", row.id, delay, reason)
        asyncio.get_running_loop().call_later(delay, self.runtime.outbox_signal.set)

    async def finish(self, attempt: Attempt) -> None:
        done = await self._queue.release(
            attempt,
            {
                "state": NoteState.SENT,
                "sent_at": self.runtime.wall.now(),
                "last_error": None,
                "claimed_until": None,
                "started_at": None,
            },
        )
        if done:
            self.runtime.metrics.deliveries.labels("sent").inc()

    async def dead(self, attempt: Attempt, reason: str, *, tell_owner: bool = True) -> None:
        row = attempt.row
        self._queue.report(attempt)
        owner, channel = (None, None)
        if tell_owner and row.kind != Note.DIRECT:
            owner, channel = await self._owner_of(row)
        outcome = [
            (attempt, {"state": NoteState.DEAD, "last_error": reason[:500], "claimed_until": None})
        ]
        async with unit_of_work(self.runtime.sessions) as session:
            marked = row.id in await self._queue.save(session, outcome)
            note: Direct | None = None
            if channel and reason in CHANNEL_GONE:
                self.runtime.postable.pop((row.team_id, channel), None)  # check it again
            if marked and owner and channel and reason in CHANNEL_GONE:
                # A channel that stopped working fails every later post there too: its owner
                # hears of it once, not once a post.
                if not await _told_of_channel(session, row.team_id, owner, channel):
                    note = Direct(
                        user_id=owner,
                        channel_trouble=channel,
                        text=f"Baton could not deliver a message ({row.kind}) to "
                        f"<#{channel}> and can no longer post there (Slack said `{reason}`), "
                        "so run cards and updates there are not delivered. "
                        "Type `/invite @Baton` there, or start runs in another channel with "
                        "`/baton run <name> #channel`.",
                    )
            elif marked and owner:
                note = Direct(
                    user_id=owner,
                    text=f"Baton could not deliver a message ({row.kind}) to "
                    f"{row.conversation}: Slack said `{reason}`.",
                )
            if note is not None and owner:
                session.add(
                    Outbox(
                        team_id=row.team_id,
                        kind=note.KIND,
                        conversation=owner,
                        payload=note.encode(),
                        next_attempt_at=AT_ONCE,
                        created_at=self.runtime.clock.now(),
                    )
                )
        if not marked:
            return
        self._queue.saved(outcome, {row.id or 0})
        log.warning("outbox %s (%s) is dead: %s", row.id, row.kind, reason)
        self.runtime.metrics.deliveries.labels("dead").inc()
        self.runtime.outbox_signal.set()

    async def _owner_of(self, row: Outbox) -> tuple[str | None, str | None]:
        """The owner of the run a notification is about, and the run's channel."""
        run_id, step_run_id = subject(row.kind, row.payload)
        async with unit_of_work(self.runtime.sessions) as session:
            run = None
            if run_id is not None:
                run = await session.get(Run, run_id)
            elif step_run_id is not None:
                step = await session.get(StepRun, step_run_id)
                run = await session.get(Run, step.run_id) if step else None
        return (run.owner_id, run.channel_id) if run else (None, None)


async def _told_of_channel(session: AsyncSession, team_id: str, owner: str, channel: str) -> bool:
    rows = (
        await session.exec(
            select(Outbox.payload)
            .where(
                Outbox.team_id == team_id,
                Outbox.kind == Note.DIRECT,
                Outbox.conversation == owner,
            )
            .order_by(col(Outbox.id).desc())
            .limit(TOLD_LOOKBACK)
        )
    ).all()
    return any(_trouble(payload) == channel for payload in rows)


def _trouble(raw: object) -> str | None:
    """The channel a DM told its owner of (None for other DMs, or one that does not decode)."""
    try:
        return Direct.decode(raw).channel_trouble
    except BadPayload:
        return None
