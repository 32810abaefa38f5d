"""`wait 2h` and `wait until mon 09:00`: how far the console moves business time.

Clock times are read in the current user's zone, as they would say them.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

WAIT_USAGE: Final = (
    "wait <duration> (e.g. 2h, 1d 4h, 30m) or wait until [mon|tomorrow|YYYY-MM-DD] HH:MM"
)
MAX_WAIT: Final = timedelta(weeks=52)

_UNITS: Final = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_PART: Final = re.compile(r"(\d{1,6})\s*([mhdw])")
_CLOCK: Final = re.compile(r"(\d{1,2}):(\d{2})")
_DATE: Final = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_DAYS: Final = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class WaitError(ValueError):
    """Words `wait` cannot read; the message says what to write."""


def wait_target(words: str, now: datetime, zone: ZoneInfo) -> datetime:
    """The moment `wait <words>` moves the clock to (always later than `now`)."""
    text = words.strip().lower()
    if text.startswith("until "):
        target = _until(text.removeprefix("until ").strip(), now, zone)
    else:
        target = now + parse_span(text)
    if target <= now:
        raise WaitError("That moment has passed; time only moves forward.")
    if target - now > MAX_WAIT:
        raise WaitError("That is more than a year ahead; wait a little less.")
    return target


def parse_span(text: str) -> timedelta:
    compact = text.replace(" ", "")
    if not compact or _PART.sub("", compact):
        raise WaitError(f"`{text}` is not a duration. Usage: {WAIT_USAGE}")
    span = timedelta()
    for amount, unit in _PART.findall(compact):
        span += timedelta(**{_UNITS[unit]: int(amount)})
    return span


def _until(text: str, now: datetime, zone: ZoneInfo) -> datetime:
    words = text.split()
    if not words or _CLOCK.fullmatch(words[-1]) is None:
        raise WaitError(f"Say the time too, e.g. `wait until mon 09:00`. Usage: {WAIT_USAGE}")
    clock = _clock(words[-1])
    local_now = now.astimezone(zone)
    if len(words) == 1:
        target = _at(local_now.date(), clock, zone)
        return target if target > now else _at(local_now.date() + timedelta(days=1), clock, zone)
    if len(words) != 2:
        raise WaitError(f"`{text}` is not a moment. Usage: {WAIT_USAGE}")
    return _at(_day(words[0], local_now, clock, zone), clock, zone)


def _clock(word: str) -> time:
    match = _CLOCK.fullmatch(word)
    assert match is not None
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour > 23 or minute > 59:
        raise WaitError(f"`{word}` is not a time of day: write HH:MM from 00:00 to 23:59.")
    return time(hour, minute)


def _day(word: str, local_now: datetime, clock: time, zone: ZoneInfo) -> date:
    today = local_now.date()
    if word == "today":
        return today
    if word == "tomorrow":
        return today + timedelta(days=1)
    if (match := _DATE.fullmatch(word)) is not None:
        try:
            return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError:
            raise WaitError(f"`{word}` is not a date.") from None
    weekday = next(
        (i for i, name in enumerate(_DAYS) if len(word) >= 3 and name.startswith(word)), None
    )
    if weekday is None:
        raise WaitError(f"`{word}` is not a day: write mon…sun, today, tomorrow or YYYY-MM-DD.")
    ahead = (weekday - today.weekday()) % 7
    if ahead == 0 and _at(today, clock, zone) <= local_now:
        ahead = 7  # "mon 09:00" said on a Monday afternoon means next Monday
    return today + timedelta(days=ahead)


def _at(day: date, clock: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, clock, tzinfo=zone)
