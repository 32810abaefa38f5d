"""Notes that carry their message: a direct message, and a redraw of a message in place."""

from __future__ import annotations

from typing import Any

from bot.notify.attempt import Attempt
from bot.notify.handler import Delivery
from bot.notify.payloads import BadPayload, Direct, Redraw


async def direct_note(delivery: Delivery) -> None:
    note = Direct.decode(delivery.row.payload)
    kwargs: dict[str, Any] = {"text": note.text}
    if note.blocks:
        kwargs["blocks"] = note.blocks
    await delivery.post(note.user_id, **kwargs)


def direct_first_post(attempt: Attempt) -> str | None:
    try:
        return Direct.decode(attempt.row.payload).user_id
    except BadPayload:
        return None  # its delivery reports it


async def redraw_note(delivery: Delivery) -> None:
    note = Redraw.decode(delivery.row.payload)
    await delivery.client.chat_update(
        channel=note.channel_id, ts=note.ts, text=note.text, blocks=note.blocks
    )
