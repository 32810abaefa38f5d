"""Notes that carry their message: a direct message, and a redraw of a message in place."""

from __future__ import annotations

from typing import Any

from bot.notify.attempt import Attempt
from bot.notify.handler import Delivery


async def direct_note(delivery: Delivery) -> None:
    payload = delivery.row.payload
    kwargs: dict[str, Any] = {"text": str(payload["text"])}
    if payload.get("blocks"):
        kwargs["blocks"] = payload["blocks"]
    await delivery.post(str(payload["user_id"]), **kwargs)


def direct_first_post(attempt: Attempt) -> str | None:
    user_id = attempt.row.payload.get("user_id")
    return user_id if isinstance(user_id, str) else None


async def redraw_note(delivery: Delivery) -> None:
    payload = delivery.row.payload
    await delivery.client.chat_update(
        channel=str(payload["channel_id"]),
        ts=str(payload["ts"]),
        text=str(payload["text"]),
        blocks=payload["blocks"],
    )
