"""Serving Baton's ASGI app with uvicorn, in the foreground or as a task (tests, console)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import dataclass

import uvicorn
from starlette.applications import Starlette

# How often a stopping server looks whether its last connections and tasks are done.
STOP_POLL_SECONDS = 0.005


class EmbeddedServer(uvicorn.Server):
    """uvicorn as a task in a loop it shares (tests, the console, the emulator) that stops as
    soon as `stop()` is called and its connections are done. uvicorn's own server ticks
    every 0.1 s before it notices `should_exit`, then sleeps 0.1 s more and polls its
    connections every 0.1 s; the test suite stops two servers per test."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self.should_exit = True
        self._stop.set()

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):  # on_tick keeps the Date header fresh
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 0.1)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        state = self.server_state
        try:
            async with asyncio.timeout(self.config.timeout_graceful_shutdown):
                # uvicorn signals neither a connection's end nor a task's: look often.
                while state.connections or state.tasks:  # noqa: ASYNC110
                    await asyncio.sleep(STOP_POLL_SECONDS)
        except TimeoutError:
            for task in state.tasks:
                task.cancel(msg="Task cancelled, timeout graceful shutdown exceeded")
        for server in self.servers:
            await server.wait_closed()
        await self.lifespan.shutdown()


@dataclass
class RunningServer:
    server: EmbeddedServer
    task: asyncio.Task[None]

    @property
    def port(self) -> int:
        sockets = self.server.servers[0].sockets
        return int(sockets[0].getsockname()[1])

    async def stop(self) -> None:
        self.server.stop()
        await self.task


def uvicorn_config(app: Starlette, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(app, host=host, port=port, lifespan="on", log_level="warning")


async def start_server(app: Starlette, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Start uvicorn in this loop and return once it listens (port 0 picks a free one)."""
    server = EmbeddedServer(uvicorn_config(app, host, port))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # start-up failed: raise its error here
            raise RuntimeError("the web server stopped while starting")
        await asyncio.sleep(0.01)
    return RunningServer(server, task)
