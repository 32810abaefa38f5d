"""Injected failures and slow answers, matched by method (and optionally by parameters)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.slack_emulator.blockkit import JSON

ANY_METHOD = "*"


@dataclass
class Fault:
    """Answer the next `times` matching calls with an error instead of doing them.

    `times=None` keeps failing until cleared. `match` restricts the fault to calls whose
    parameters equal the given values (e.g. {"channel": "C0OPS"}).
    """

    method: str
    status: int
    error: str
    retry_after: float | None = None
    times: int | None = 1
    match: Mapping[str, str] = field(default_factory=dict)
    # Carry the call out, then answer the error: an answer lost on Slack's side.
    carried_out: bool = False

    def applies(self, method: str, params: JSON) -> bool:
        if self.times is not None and self.times <= 0:
            return False
        if self.method not in (ANY_METHOD, method):
            return False
        return all(str(params.get(key)) == value for key, value in self.match.items())

    def answer(self) -> tuple[int, JSON, dict[str, str]]:
        """Status, body and headers Slack sends for this failure."""
        headers: dict[str, str] = {}
        if self.retry_after is not None:
            headers["Retry-After"] = str(math.ceil(self.retry_after))
        return self.status, {"ok": False, "error": self.error}, headers


@dataclass
class Delay:
    method: str
    seconds: float
    times: int | None = None

    def applies(self, method: str) -> bool:
        alive = self.times is None or self.times > 0
        return alive and self.method in (ANY_METHOD, method)


@dataclass
class Hold:
    """Matching calls wait until the test calls `release()`, then are carried out: a slow
    Slack answer whose length the test decides, with no wall-clock wait."""

    method: str
    match: Mapping[str, str] = field(default_factory=dict)
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    # Calls waiting at the gate now.
    waiting: int = 0

    def applies(self, method: str, params: JSON) -> bool:
        if self.gate.is_set() or self.method not in (ANY_METHOD, method):
            return False
        return all(str(params.get(key)) == value for key, value in self.match.items())

    def release(self) -> None:
        self.gate.set()


class Faults:
    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self.delays: list[Delay] = []
        self.holds: list[Hold] = []

    def add(self, fault: Fault) -> None:
        self.faults.append(fault)

    def add_delay(self, delay: Delay) -> None:
        self.delays.append(delay)

    def take(self, method: str, params: JSON) -> Fault | None:
        """The first fault for this call, counted as used."""
        for fault in self.faults:
            if fault.applies(method, params):
                if fault.times is not None:
                    fault.times -= 1
                return fault
        return None

    def take_delay(self, method: str) -> float:
        for delay in self.delays:
            if delay.applies(method):
                if delay.times is not None:
                    delay.times -= 1
                return delay.seconds
        return 0.0

    def hold_for(self, method: str, params: JSON) -> Hold | None:
        return next((hold for hold in self.holds if hold.applies(method, params)), None)

    def clear(self) -> None:
        self.faults.clear()
        self.delays.clear()
        for hold in self.holds:
            hold.release()
        self.holds.clear()
