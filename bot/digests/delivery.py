"""Delivering a digest: rendered from the database as it stands when it goes out."""

from __future__ import annotations

from bot.digests.build import build_digest
from bot.digests.subscriptions import Window, remember_quiet, said_quiet
from bot.notify.handler import Delivery


async def deliver_digest(delivery: Delivery) -> None:
    row = delivery.row
    channel_id = str(row.payload["channel_id"])
    raw_id = row.payload.get("subscription_id")
    subscription_id = None if raw_id is None else int(raw_id)
    digest = await build_digest(
        delivery.runtime,
        team_id=row.team_id,
        channel_id=channel_id,
        window=Window.from_payload(row.payload),
    )
    # "All quiet" is said once; a scheduled digest repeats it only after something happened
    # (`digest now` always answers).
    asked = bool(row.payload.get("asked"))
    if (
        subscription_id is not None
        and digest.quiet
        and not asked
        and await said_quiet(delivery.runtime, subscription_id)
    ):
        return
    await delivery.post(channel_id, text=digest.text, blocks=digest.blocks)
    if subscription_id is not None:
        await remember_quiet(delivery.runtime, subscription_id, quiet=digest.quiet)
