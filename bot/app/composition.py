"""The composition root: the one place that wires settings, storage, Bolt and the web app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette

from bot.app.observe import slack_middleware
from bot.app.web import build_web, ops_routes, slack_routes
from bot.config import Settings
from bot.core.clock import Clock, SystemClock
from bot.digests import firing as digests
from bot.integrations import calls as integrations
from bot.integrations.callbacks import hook_routes
from bot.logs import protect_access_log
from bot.metrics import Metrics
from bot.notify.deliverer import Deliverer
from bot.notify.home import publish_home
from bot.people.directory import Directory
from bot.runtime import Runtime
from bot.slack.clients import SlackClients
from bot.slack.installations import activate_token_workspace, installation_tokens, oauth_options
from bot.slack.limits import MethodLimits
from bot.slack.receipts import prune_receipts
from bot.slack.requests import Ledger, recovery
from bot.slack.timers import Timer
from bot.templates import Templates
from bot.timing import reminders, schedules
from bot.timing.sweep import Sweeper, start_scheduler, stop_scheduler
from handlers import dedupe, register_all
from storage.db import create_engine, session_factory
from storage.migrate import upgrade
from storage.vocabulary import Note

log = logging.getLogger("baton")

STOP_GRACE_SECONDS = 20.0


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
        routes = [
            *slack_routes(
                self.bolt, self.runtime.settings.SLACK_SIGNING_SECRET or "", self.runtime.metrics
            ),
            *ops_routes(self.runtime),
            *hook_routes(self.runtime),
        ]
        self.web = build_web(routes, on_start=self.start, on_stop=self.stop)

    async def start(self) -> None:
        if self.migrate_on_start:
            await upgrade(self.runtime.engine)
        await activate_token_workspace(self.runtime)
        self._tasks.append(asyncio.create_task(self.deliverer.run_forever(), name="deliverer"))
        self._scheduler = start_scheduler(self.sweeper, self.runtime.settings.BATON_TICK_SECONDS)

    async def stop(self) -> None:
        if self._scheduler is not None:
            await stop_scheduler(self._scheduler, self.sweeper)
            self._scheduler = None
        # Listeners still running commit their changes (and the notes those cause) first.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STOP_GRACE_SECONDS):
                await self.runtime.listeners.wait_idle()
        self.deliverer.stop()
        # In-flight deliveries finish; their rows are marked before the engine closes. One
        # stuck past the grace is cancelled: its lease runs out and another replica resumes it.
        if self._tasks:
            _, stuck = await asyncio.wait(self._tasks, timeout=STOP_GRACE_SECONDS)
            for task in stuck:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.runtime.engine.dispose()


def build_bolt(settings: Settings, runtime: Runtime, ledger: Ledger) -> AsyncApp:
    # With OAuth, each request's token comes from its workspace's installation, so the client
    # has none; one workspace gives Bolt its token. (A client as well as a token, which Bolt
    # also reads from an exported SLACK_BOT_TOKEN, makes it warn that the token goes unused.)
    credentials: dict[str, Any] = (
        {"client": AsyncWebClient(token=None, base_url=settings.SLACK_API_URL)}
        if settings.oauth_enabled
        else {"token": settings.SLACK_BOT_TOKEN}
    )
    bolt = AsyncApp(
        signing_secret=settings.SLACK_SIGNING_SECRET,
        raise_error_for_unhandled_request=True,  # answered 200 by handlers.unhandled
        logger=logging.getLogger("baton.slack"),
        **credentials,
        **oauth_options(settings, runtime),
    )
    bolt.client.base_url = settings.SLACK_API_URL  # the client Bolt built, or ours

    async def inject_runtime(context: dict[str, Any], next: Any) -> None:
        context["runtime"] = runtime
        await next()

    bolt.use(inject_runtime)
    bolt.use(slack_middleware(runtime.metrics))
    dedupe.register(bolt, runtime, ledger)
    register_all(bolt, runtime.listeners)
    return bolt


def build_runtime(
    settings: Settings,
    clock: Clock,
    *,
    paced: bool = True,
    timer: Timer | None = None,
    wall: Clock | None = None,
) -> Runtime:
    """The services' shared state, also used alone by the CLI's database commands.

    `paced=False` (tests against the emulator) drops the per-method rate tiers; `timer` is
    what they keep time and wait on (default: the process's monotonic seconds); `wall` is
    the real time of leases and retries (default: the system's).
    """
    engine = create_engine(settings.BATON_DATABASE_URL)
    sessions = session_factory(engine)
    tokens = installation_tokens(settings, engine, sessions, clock)
    slack = SlackClients(settings, tokens, limits=MethodLimits(timer) if paced else None)
    return Runtime(
        settings=settings,
        clock=clock,
        engine=engine,
        sessions=sessions,
        metrics=Metrics(),
        slack=slack,
        directory=Directory(settings, clock, sessions, slack),
        templates=Templates(settings.BATON_TEMPLATE_DIR),
        wall=wall or SystemClock(),
    )


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    migrate_on_start: bool = True,
    channel_interval: float = 1.0,
    timer: Timer | None = None,
    wall: Clock | None = None,
) -> Baton:
    """`channel_interval=0` (tests against the emulator) paces nothing, unless a `timer` (a
    test's ManualTimer) is given: Slack's method tiers then keep time on it. A test moving
    the timer by hand gives its clock as `wall` too, so retries come due as it moves."""
    settings.require_slack()
    protect_access_log()
    paced = channel_interval > 0 or timer is not None
    runtime = build_runtime(settings, clock or SystemClock(), paced=paced, timer=timer, wall=wall)
    deliverer = Deliverer(runtime, channel_interval=channel_interval, timer=timer)
    deliverer.handle(Note.HOME, publish_home)
    sweeper = Sweeper(runtime)
    reminders.register(sweeper, deliverer)
    schedules.register(sweeper)
    integrations.register(sweeper)
    digests.register(sweeper, deliverer)
    ledger = Ledger(runtime)
    bolt = build_bolt(settings, runtime, ledger)
    sweeper.on_tick("slack_requests", recovery(bolt, ledger))
    sweeper.on_tick("slack_receipts", prune_receipts)
    return Baton(
        runtime=runtime,
        bolt=bolt,
        deliverer=deliverer,
        sweeper=sweeper,
        migrate_on_start=migrate_on_start,
    )
