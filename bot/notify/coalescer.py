"""Group commit: requests made side by side share one flush (one transaction)."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Coalescer(Generic[T, R]):
    """Group commit: requests made while a flush runs, or in the same turn of the event loop,
    go together into the next flush, so notifications delivered side by side share one
    transaction instead of taking one each. `flush` answers each request with a result or an
    exception (raised to that caller alone); `gather`, when given, may hold a flush back a
    little for more requests to join it."""

    def __init__(
        self,
        flush: Callable[[list[T]], Awaitable[Sequence[R | Exception]]],
        *,
        gather: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._flush = flush
        self._gather = gather
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._task: asyncio.Task[None] | None = None

    async def __call__(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._task is None:
            # Its own context: the flush is no single notification's (logging context).
            self._task = asyncio.create_task(self._drain(), context=contextvars.Context())
        return await future

    async def _drain(self) -> None:
        waiting: list[tuple[T, asyncio.Future[R]]] = []
        try:
            while self._queue:
                await asyncio.sleep(0)  # the rest of this turn's requests join in
                if self._gather is not None:
                    await self._gather()
                # A caller cancelled before its turn (a replica stopping) is not written.
                waiting = [(item, future) for item, future in self._queue if not future.done()]
                self._queue = []
                if not waiting:
                    continue
                results = await self._flush_each([item for item, _ in waiting])
                for (_, future), result in zip(waiting, results, strict=True):
                    if future.done():
                        continue
                    if isinstance(result, Exception):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
                waiting = []
        except BaseException:
            for _, future in [*waiting, *self._queue]:
                future.cancel()
            self._queue = []
            raise
        finally:
            self._task = None

    async def _flush_each(self, items: list[T]) -> Sequence[R | Exception]:
        """One flush for all; should it fail, one for each, so that a request the database
        refuses fails alone (each flush is one transaction: a failed one left nothing)."""
        try:
            return await self._flush(items)
        except Exception as exc:
            if len(items) == 1:
                return [exc]
        results: list[R | Exception] = []
        for item in items:
            try:
                results += await self._flush([item])
            except Exception as exc:
                results.append(exc)
        return results
