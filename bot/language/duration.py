"""Durations of the workflow language: ``30m``, ``4h``, ``2d``, ``1w`` and combinations (``1d4h``).

Units are ``m`` (minutes), ``h`` (hours), ``d`` (days) and ``w`` (weeks), each at most once, in
any order. A duration is a whole number of minutes, longer than zero and at most 365 days. The
canonical spelling (what :func:`format_duration` writes) is weeks, days, hours, minutes, largest
first, zero parts left out: ``1w2d``, ``1d4h``, ``90m`` becomes ``1h30m``.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Final

__all__ = [
    "DURATION_HINT",
    "MAX_DURATION",
    "DurationTooLong",
    "duration_problem",
    "format_duration",
    "parse_duration",
]

MAX_DURATION: Final = timedelta(days=365)
DURATION_HINT: Final = "Write e.g. 30m, 4h, 2d, 1w or 1d4h"

_UNIT_MINUTES: Final = {"w": 7 * 24 * 60, "d": 24 * 60, "h": 60, "m": 1}
_PART: Final = re.compile(r"([0-9]+)([a-zA-Z])")
_MAX_MINUTES: Final = MAX_DURATION // timedelta(minutes=1)
_MINUTE: Final = timedelta(minutes=1)


class DurationTooLong(ValueError):
    """A well-formed duration beyond ``MAX_DURATION``: callers may state their own limit."""


def parse_duration(text: str) -> timedelta:
    """Parse ``1d4h``-style text; raises ``ValueError`` with a message fit to show a user.

    The message reads after the clause name, e.g. ``due`` + ``'tomorrow' is not a duration``.
    """
    spelled = text.strip()
    if not spelled:
        raise ValueError("needs a duration")
    pos = 0
    seen: set[str] = set()
    minutes = 0
    while pos < len(spelled):
        match = _PART.match(spelled, pos)
        if match is None:
            raise ValueError(f"'{text}' is not a duration")
        digits, unit = match.group(1), match.group(2)
        if unit not in _UNIT_MINUTES:
            raise ValueError(f"'{text}' uses the unknown unit '{unit}'")
        if unit in seen:
            raise ValueError(f"'{text}' gives '{unit}' twice")
        seen.add(unit)
        if len(digits) > 9:
            raise DurationTooLong(f"'{text}' is longer than 365 days")
        minutes += int(digits) * _UNIT_MINUTES[unit]
        pos = match.end()
    if minutes <= 0:
        raise ValueError(f"'{text}' must be longer than zero")
    if minutes > _MAX_MINUTES:
        raise DurationTooLong(f"'{text}' is longer than 365 days")
    return timedelta(minutes=minutes)


def format_duration(value: timedelta) -> str:
    """The canonical spelling of ``value`` (whole minutes; seconds are dropped). Zero is ``0m``."""
    if value < timedelta(0):
        raise ValueError("a duration cannot be negative")
    minutes = value // _MINUTE
    if minutes == 0:
        return "0m"
    parts: list[str] = []
    for unit, size in _UNIT_MINUTES.items():
        count, minutes = divmod(minutes, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def duration_problem(value: timedelta) -> str | None:
    """Why ``value`` is not a duration the language can write, or ``None`` when it is one."""
    if value <= timedelta(0):
        return "must be longer than zero"
    if value > MAX_DURATION:
        return "is longer than 365 days"
    if value % _MINUTE:
        return "must be a whole number of minutes"
    return None
