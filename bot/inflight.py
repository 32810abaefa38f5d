"""Counts Slack listeners still running after their ack, so shutdown and tests can wait for
them (Bolt acks first and finishes the listener in the background)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

Listener = TypeVar("Listener", bound=Callable[..., Awaitable[Any]])


class InFlight:
    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def track(self, listener: Listener) -> Listener:
        @functools.wraps(listener)
        async def tracked(**kwargs: Any) -> Any:
            self.count += 1
            self._idle.clear()
            try:
                return await listener(**kwargs)
            finally:
                self.count -= 1
                if self.count == 0:
                    self._idle.set()

        return tracked  # type: ignore[return-value]

    async def wait_idle(self) -> None:
        await self._idle.wait()
