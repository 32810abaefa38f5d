"""What every service needs, built once by the composition root and handed down."""

from __future__ import annotations

import asyncio
import os
import socket
from dataclasses import dataclass, field

from cachetools import TTLCache
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Settings
from bot.core.clock import Clock, SystemClock
from bot.integrations.dns import Resolver, system_resolver
from bot.metrics import Metrics
from bot.people.directory import Directory
from bot.slack.clients import SlackClients
from bot.slack.inflight import InFlight
from bot.slack.timers import MonotonicTimer, Timer
from bot.templates import Templates
from storage.db import SessionFactory

# How long a channel Baton found it can post in is taken on trust (conversations.info is 50
# calls a minute a workspace: a crowd's `run`s would spend it in seconds). A channel that
# stops working meanwhile fails its delivery, which tells the run's owner.
POSTABLE_SECONDS = 600.0


def postable_cache() -> TTLCache[tuple[str, str], bool]:
    return TTLCache(maxsize=10_000, ttl=POSTABLE_SECONDS)


@dataclass
class Runtime:
    settings: Settings
    clock: Clock  # business time: due dates, reminders, schedules (tests and the console move it)
    engine: AsyncEngine
    sessions: SessionFactory
    metrics: Metrics
    slack: SlackClients
    directory: Directory
    templates: Templates  # the prose of every message, with the operator's overrides
    # Slack's pacing and retry delays are real seconds, whatever the business clock says.
    wall: Clock = field(default_factory=SystemClock)
    # Set when a transaction wrote to the outbox, so the deliverer wakes without polling.
    outbox_signal: asyncio.Event = field(default_factory=asyncio.Event)
    listeners: InFlight = field(default_factory=InFlight)
    # What an integration call's time limit counts (tests hold it still with a ManualTimer).
    deadlines: Timer = field(default_factory=MonotonicTimer)
    # How hook hosts are resolved before the SSRF guard judges them (tests give names addresses).
    resolver: Resolver = system_resolver
    # (team, channel) pairs Baton could post in when last checked, kept for a while.
    postable: TTLCache[tuple[str, str], bool] = field(default_factory=postable_cache)
    # Names this process in claims, so a row claimed by a dead replica can be told apart.
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
