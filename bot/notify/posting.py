"""Posting exactly once: each chat.postMessage is paced, recorded, and never posted twice.

Each post carries message metadata naming the notification and the part of it, and is
recorded in the row (`posted`) once Slack answers: with the notification's outcome, or before
its next post, whichever comes first, so a later attempt never posts a recorded part again.
`started_at` marks an attempt whose outcome is unknown (it was in flight when its replica
died, or the connection broke, or Slack answered 5xx): the next attempt first looks for that
part in the channel's history and takes it when found.

Reading where the bot is no member: Baton posts into public channels it never joined
(chat:write.public), where Slack answers not_in_channel to a history read; the lookup then
joins the channel (channels:join) and reads it. Under Slack's 2025 limits for apps outside
the Marketplace (one history call a minute) a 429 keeps the post in doubt until Retry-After.
What remains at-least-once: when the history still cannot be read (a missing history or join
scope, a private channel the bot left, an archived one) or the post is older than the pages
read, an unknown outcome is posted again rather than lost. Lease and client timeout leave a
dead replica's request 10 s to land before a takeover. chat.update and views.publish redraw
from the database, so repeating them is harmless.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.notify.attempt import Attempt, aware
from bot.notify.pacing import ChannelPacing
from bot.runtime import Runtime
from bot.slack.limits import retry_after

log = logging.getLogger("baton.delivery")

METADATA_TYPE = "baton_delivery"
LOOKBACK_MARGIN = timedelta(seconds=60)
HISTORY_PAGES = 5
# Slack answers these when it is having trouble, not when the message is wrong.
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


class Poster:
    def __init__(self, runtime: Runtime, pacing: ChannelPacing) -> None:
        self.runtime = runtime
        self._pacing = pacing

    async def post(
        self, attempt: Attempt, client: AsyncWebClient, channel: str, kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        """chat.postMessage for `attempt`: {"channel", "ts"} of the message, posted now or by
        an earlier attempt of the same notification."""
        row = attempt.row
        part = attempt.part(channel, kwargs.get("thread_ts"))
        recorded = attempt.posted.get(part)
        if recorded is not None:
            return dict(recorded)
        if attempt.in_doubt:
            found = await self._find_posted(client, attempt, channel, part, kwargs.get("thread_ts"))
            if found is not None:
                log.info("outbox %s: %s was posted by an earlier attempt", row.id, part)
                self.runtime.metrics.deliveries.labels("recovered").inc()
                attempt.record(part, found)
                return dict(found)
        await self._pacing.pace(attempt, channel)
        kwargs.setdefault(
            "metadata",
            {"event_type": METADATA_TYPE, "event_payload": {"outbox_id": row.id, "part": part}},
        )
        attempt.post_in_flight = True
        try:
            response = await client.chat_postMessage(channel=channel, **kwargs)
        except SlackApiError as exc:
            seconds = retry_after(exc)
            if seconds is not None:
                attempt.post_in_flight = False  # refused: nothing was posted
                await self._pacing.pause_channel(row.team_id, channel, seconds)
            elif not maybe_done(exc):
                attempt.post_in_flight = False
            raise
        attempt.post_in_flight = False
        message = {"channel": str(response["channel"]), "ts": str(response["ts"])}
        # Written with the outcome, or before the next post, whichever comes first.
        attempt.record(part, message)
        return dict(message)

    async def _find_posted(
        self,
        client: AsyncWebClient,
        attempt: Attempt,
        channel: str,
        part: str,
        thread_ts: str | None,
    ) -> dict[str, str] | None:
        """The message an earlier attempt posted for `part`, from the channel's history. A
        public channel Baton posts into without being a member (chat:write.public) cannot be
        read until it joins it (channels:join), so it joins first."""
        row = attempt.row
        since = aware(row.started_at) if row.started_at else self.runtime.wall.now()
        oldest = f"{(since - LOOKBACK_MARGIN).timestamp():.6f}"
        try:
            conversation = channel
            if channel.startswith(("U", "W")):  # a DM is read by its channel id
                opened = await client.conversations_open(users=channel)
                conversation = str(opened["channel"]["id"])
            try:
                ts = await _search(client, conversation, thread_ts, oldest, row.id, part)
            except SlackApiError as exc:
                if slack_error(exc) != "not_in_channel":
                    raise
                await client.conversations_join(channel=conversation)
                log.info("outbox %s: joined %s to read its history", row.id, conversation)
                ts = await _search(client, conversation, thread_ts, oldest, row.id, part)
            return {"channel": conversation, "ts": ts} if ts is not None else None
        except SlackApiError as exc:
            if retry_after(exc) is not None or maybe_done(exc):
                raise  # Slack is struggling: the attempt is retried later, still in doubt
            log.warning(
                "outbox %s: cannot read %s's history (%s); posting %s again",
                row.id,
                channel,
                slack_error(exc),
                part,
            )
        return None


async def _search(
    client: AsyncWebClient,
    conversation: str,
    thread_ts: str | None,
    oldest: str,
    outbox_id: int | None,
    part: str,
) -> str | None:
    """The ts of the message in `conversation` (or its thread) since `oldest` that names the
    notification's part in its metadata, reading at most HISTORY_PAGES pages."""
    cursor: str | None = None
    for _ in range(HISTORY_PAGES):
        options: dict[str, Any] = {
            "channel": conversation,
            "oldest": oldest,
            "include_all_metadata": True,
            "limit": 200,
            "cursor": cursor,
        }
        if thread_ts:
            page = await client.conversations_replies(ts=thread_ts, **options)
        else:
            page = await client.conversations_history(**options)
        for message in page.get("messages") or []:
            if _names(message, outbox_id, part):
                return str(message["ts"])
        cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
        if not cursor:
            return None
    return None


def _names(message: dict[str, Any], outbox_id: int | None, part: str) -> bool:
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload") or {}
    return (
        metadata.get("event_type") == METADATA_TYPE
        and str(payload.get("outbox_id")) == str(outbox_id)
        and payload.get("part") == part
    )


def slack_error(exc: SlackApiError) -> str:
    return str(exc.response.get("error", "")) if exc.response is not None else ""


def maybe_done(exc: SlackApiError) -> bool:
    """Slack was struggling (5xx or a transient error): the call may or may not have happened,
    and a later attempt may succeed."""
    status = exc.response.status_code if exc.response is not None else 0
    return status >= 500 or slack_error(exc) in TRANSIENT_ERRORS
