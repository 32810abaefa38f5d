"""Waiting until Baton has nothing left to do: every Slack listener finished and every outbox
notification delivered. The end-to-end tests and `baton console` both need this after each
thing a person does, so what they check or print is the whole consequence of it."""

from __future__ import annotations

import asyncio

from bot.notify.deliverer import Deliverer
from bot.runtime import Runtime

# Notifications pending while nothing delivers them (a retry's backoff, a lease another
# replica holds) become deliverable with the passing of time: look again this often.
RECHECK_SECONDS = 0.02


async def settle(runtime: Runtime, deliverer: Deliverer) -> None:
    """Return once listeners are idle and the outbox is empty (callers bound it with a timeout)."""
    while True:
        await runtime.listeners.wait_idle()
        # Deliver here rather than wait for the background loop, so no wall-clock wait is needed.
        await deliverer.deliver_due()
        # A batch the background loop claimed first is waited for, not polled.
        await deliverer.wait_idle()
        if runtime.listeners.count:
            continue
        pending = await deliverer.pending()
        if pending == 0 and runtime.listeners.count == 0 and deliverer.idle:
            return
        if runtime.listeners.count == 0 and deliverer.idle:
            await asyncio.sleep(RECHECK_SECONDS)
