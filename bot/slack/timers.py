"""Real seconds for Slack's rate limits: what time it is, and waiting a while.

Pacing (a channel's next post, a method's calls this minute) waits on a `Timer` rather than
on asyncio.sleep directly, so tests spend a whole minute's budget and then move time on by
hand (`ManualTimer`) instead of waiting for it.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Protocol

from bot.core.clock import Clock, ManualClock


class Timer(Protocol):
    def time(self) -> float:
        """Seconds since a fixed origin (epoch seconds where stored or shared)."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class MonotonicTimer:
    """The process's own seconds: for limits kept in memory."""

    def time(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class WallTimer:
    """Epoch seconds of a clock that moves by itself (the runtime's wall clock)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def time(self) -> float:
        return self._clock.now().timestamp()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class ManualTimer:
    """Epoch seconds of a ManualClock; a sleeper wakes once `advance` has moved the clock past
    its deadline, never by itself."""

    def __init__(self, clock: ManualClock) -> None:
        self._clock = clock
        self._changed = asyncio.Condition()
        self._deadlines: list[float] = []

    @property
    def sleepers(self) -> int:
        """Sleepers still waiting for the clock (not those an advance has woken)."""
        now = self.time()
        return sum(deadline > now for deadline in self._deadlines)

    def time(self) -> float:
        return self._clock.now().timestamp()

    async def sleep(self, seconds: float) -> None:
        deadline = self.time() + seconds
        async with self._changed:
            self._deadlines.append(deadline)
            self._changed.notify_all()
            try:
                await self._changed.wait_for(lambda: self.time() >= deadline)
            finally:
                self._deadlines.remove(deadline)

    async def sleeping(self) -> None:
        """Until someone waits for the clock to move."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.sleepers > 0)

    async def advance(self, seconds: float) -> None:
        async with self._changed:
            self._clock.advance(timedelta(seconds=seconds))
            self._changed.notify_all()
