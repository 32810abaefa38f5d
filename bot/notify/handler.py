"""What a notification's handler is given: the note, its workspace's client, and the means to
post exactly once and to store what it posted with the record of the post."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.sql.dml import UpdateBase

from bot.notify.attempt import Attempt, Batch, Write
from bot.notify.posting import Poster
from bot.runtime import Runtime
from storage.models import Outbox


@dataclass(frozen=True, slots=True)
class Delivery:
    """One attempt at delivering one notification, as its handler sees it."""

    runtime: Runtime
    client: AsyncWebClient
    attempt: Attempt
    poster: Poster

    @property
    def row(self) -> Outbox:
        return self.attempt.row

    @property
    def batch(self) -> Batch:
        return self.attempt.batch

    async def post(self, channel: str, **kwargs: Any) -> dict[str, Any]:
        """chat.postMessage: {"channel", "ts"} of the message, posted now or by an earlier
        attempt of the same notification (never twice)."""
        return await self.poster.post(self.attempt, self.client, channel, kwargs)

    def commit_with(self, statement: UpdateBase, **params: Any) -> None:
        """Run `statement` with `params` in the transaction that records this notification's
        posts so far (its outcome, or its next post's lease renewal), and only if this
        replica's claim still holds then. What a handler stores about a message it posted (a
        card's ts) goes this way, with the record of the post."""
        self.attempt.writes.append(Write(statement, params))


Handler = Callable[[Delivery], Awaitable[None]]
