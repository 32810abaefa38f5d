"""Delivering a digest: rendered from the database as it stands when it goes out."""

from __future__ import annotations

from bot.digests.build import build_digest
from bot.digests.subscriptions import Window, remember_quiet, said_quiet
from bot.notify.handler import Delivery
from bot.notify.payloads import Digest


async def deliver_digest(delivery: Delivery) -> None:
    row = delivery.row
    note = Digest.decode(row.payload)
    channel_id, subscription_id = note.channel_id, note.subscription_id
    digest = await build_digest(
        delivery.runtime,
        team_id=row.team_id,
        channel_id=channel_id,
        window=Window(note.since, note.until),
    )
    # "All quiet" is said once; a scheduled digest repeats it only after something happened
    # (`digest now` always answers).
    if (
        subscription_id is not None
        and digest.quiet
        and not note.asked
        and await said_quiet(delivery.runtime, subscription_id)
    ):
        return
    await delivery.post(channel_id, text=digest.text, blocks=digest.blocks)
    if subscription_id is not None:
        await remember_quiet(delivery.runtime, subscription_id, quiet=digest.quiet)
