"""The composition root: the one place that wires settings, storage, Bolt and the web app."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette

from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.delivery import Deliverer
from bot.directory import Directory
from bot.metrics import Metrics
from bot.runtime import Runtime
from bot.slack_clients import SlackClients
from bot.sweep import Sweeper, start_scheduler, stop_scheduler
from bot.web import build_web, ops_routes, slack_routes
from handlers import register_all
from storage.db import create_engine, session_factory
from storage.migrate import upgrade

log = logging.getLogger("baton")


@dataclass
class Baton:
    runtime: Runtime
    bolt: AsyncApp
    deliverer: Deliverer
    sweeper: Sweeper
    migrate_on_start: bool = True
    web: Starlette = field(init=False)
    _scheduler: AsyncIOScheduler | None = field(default=None, init=False)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        routes = [*slack_routes(self.bolt), *ops_routes(self.runtime)]
        self.web = build_web(routes, on_start=self.start, on_stop=self.stop)

    async def start(self) -> None:
        if self.migrate_on_start:
            await upgrade(self.runtime.engine)
        self._tasks.append(asyncio.create_task(self.deliverer.run_forever(), name="deliverer"))
        self._scheduler = start_scheduler(self.sweeper, self.runtime.settings.BATON_TICK_SECONDS)

    async def stop(self) -> None:
        if self._scheduler is not None:
            await stop_scheduler(self._scheduler, self.sweeper)
            self._scheduler = None
        self.deliverer.stop()
        # In-flight deliveries finish; their rows are marked before the engine closes.
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.runtime.engine.dispose()


def build_bolt(settings: Settings, runtime: Runtime) -> AsyncApp:
    client = AsyncWebClient(token=settings.SLACK_BOT_TOKEN, base_url=settings.SLACK_API_URL)
    bolt = AsyncApp(
        client=client,
        signing_secret=settings.SLACK_SIGNING_SECRET,
        raise_error_for_unhandled_request=False,
        logger=logging.getLogger("baton.slack"),
    )

    async def inject_runtime(context: dict[str, Any], next: Any) -> None:
        context["runtime"] = runtime
        await next()

    bolt.use(inject_runtime)
    register_all(bolt, runtime.listeners)
    return bolt


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    migrate_on_start: bool = True,
    channel_interval: float = 1.0,
) -> Baton:
    settings.require_slack()
    clock = clock or SystemClock()
    engine = create_engine(settings.BATON_DATABASE_URL)
    sessions = session_factory(engine)
    slack = SlackClients(settings)
    runtime = Runtime(
        settings=settings,
        clock=clock,
        engine=engine,
        sessions=sessions,
        metrics=Metrics(),
        slack=slack,
        directory=Directory(settings, clock, sessions, slack),
    )
    deliverer = Deliverer(runtime, channel_interval=channel_interval)
    sweeper = Sweeper(runtime)
    return Baton(
        runtime=runtime,
        bolt=build_bolt(settings, runtime),
        deliverer=deliverer,
        sweeper=sweeper,
        migrate_on_start=migrate_on_start,
    )
