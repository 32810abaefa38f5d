"""Waiting until Baton has nothing left to do: every Slack listener finished and every outbox
notification delivered. The end-to-end tests and `baton console` both need this after each
thing a person does, so what they check or print is the whole consequence of it."""

from __future__ import annotations

import asyncio

from bot.delivery import Deliverer
from bot.runtime import Runtime


async def settle(runtime: Runtime, deliverer: Deliverer) -> None:
    """Return once listeners are idle and the outbox is empty (callers bound it with a timeout)."""
    while True:
        await runtime.listeners.wait_idle()
        # Deliver here rather than wait for the background loop, so no wall-clock wait is needed.
        await deliverer.deliver_due()
        pending = await deliverer.pending()
        if pending == 0 and runtime.listeners.count == 0 and deliverer.idle:
            return
        await asyncio.sleep(0.02)
