"""What every service needs, built once by the composition root and handed down."""

from __future__ import annotations

import asyncio
import os
import socket
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.clock import Clock
from bot.config import Settings
from bot.metrics import Metrics
from storage.db import SessionFactory


@dataclass
class Runtime:
    settings: Settings
    clock: Clock
    engine: AsyncEngine
    sessions: SessionFactory
    metrics: Metrics
    # Set when a transaction wrote to the outbox, so the deliverer wakes without polling.
    outbox_signal: asyncio.Event = field(default_factory=asyncio.Event)
    # Names this process in claims, so a row claimed by a dead replica can be told apart.
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
