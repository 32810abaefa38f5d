"""Delivering a digest: rendered from the database as it stands when it goes out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from slack_sdk.web.async_client import AsyncWebClient

from bot.delivery import Deliverer
from bot.digests.build import build_digest
from bot.digests.subscriptions import Window
from storage.models import Outbox

Handler = Callable[[AsyncWebClient, Outbox], Awaitable[None]]


def digest_handler(deliverer: Deliverer) -> Handler:
    async def deliver(client: AsyncWebClient, row: Outbox) -> None:
        channel_id = str(row.payload["channel_id"])
        text, blocks = await build_digest(
            deliverer.runtime,
            team_id=row.team_id,
            channel_id=channel_id,
            window=Window.from_payload(row.payload),
        )
        await deliverer.post(client, channel_id, text=text, blocks=blocks)

    return deliver
