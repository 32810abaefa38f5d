"""Serving Baton's ASGI app with uvicorn, in the foreground or as a task (tests, console)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import uvicorn
from starlette.applications import Starlette


@dataclass
class RunningServer:
    server: uvicorn.Server
    task: asyncio.Task[None]

    @property
    def port(self) -> int:
        sockets = self.server.servers[0].sockets
        return int(sockets[0].getsockname()[1])

    async def stop(self) -> None:
        self.server.should_exit = True
        await self.task


def uvicorn_config(app: Starlette, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(app, host=host, port=port, lifespan="on", log_level="warning")


async def start_server(app: Starlette, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Start uvicorn in this loop and return once it listens (port 0 picks a free one)."""
    server = uvicorn.Server(uvicorn_config(app, host, port))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # start-up failed: raise its error here
            raise RuntimeError("the web server stopped while starting")
        await asyncio.sleep(0.01)
    return RunningServer(server, task)
