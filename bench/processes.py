"""Child processes for the benchmarks: a server or a load generator on its own core, spoken to
through a pipe, so that one side's CPU never shows up in the other side's figures."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any


@dataclass
class Child:
    process: BaseProcess
    conn: Connection

    async def ask(self, message: object) -> Any:
        """Send `message` and wait (without blocking this loop) for the answer."""
        self.conn.send(message)
        return await self.answer()

    async def answer(self) -> Any:
        return await asyncio.to_thread(self.conn.recv)

    def stop(self) -> None:
        """Tell the child to finish (it answers None with a clean exit), then reap it."""
        with contextlib.suppress(OSError):
            self.conn.send(None)
        self.process.join(timeout=30)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout=5)


def start(target: Callable[..., None], *args: object) -> Child:
    """Run target(*args, conn) in a fresh interpreter (spawn: no state shared by fork)."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=target, args=(*args, theirs), daemon=True)
    process.start()
    return Child(process, ours)


@contextlib.asynccontextmanager
async def running(target: Callable[..., None], *args: object) -> AsyncIterator[Child]:
    child = start(target, *args)
    try:
        yield child
    finally:
        await asyncio.to_thread(child.stop)


async def until_told(conn: Connection) -> None:
    """In a child: wait (without blocking its loop) for the parent's None."""
    while await asyncio.to_thread(conn.recv) is not None:
        pass
