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

from bot.clock import Clock, ManualClock


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
        self._moved = asyncio.Condition()
        self.sleepers = 0

    def time(self) -> float:
        return self._clock.now().timestamp()

    async def sleep(self, seconds: float) -> None:
        deadline = self.time() + seconds
        async with self._moved:
            self.sleepers += 1
            try:
                await self._moved.wait_for(lambda: self.time() >= deadline)
            finally:
                self.sleepers -= 1

    async def advance(self, seconds: float) -> None:
        async with self._moved:
            self._clock.advance(timedelta(seconds=seconds))
            self._moved.notify_all()
