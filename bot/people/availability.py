"""When a person can be reached: their working hours (`hours`) and time away (`away`).

Both live on the person's row. While someone is away their reminders wait (see
`bot.timing.reminders`) and steps that become ready go to their delegate or the run owner (see
`bot.runs.engine.away_redirect`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import update
from sqlmodel import col

from bot.core.errors import InvalidInput, reads_input
from bot.core.working_hours import (
    FULL_DAY_NAMES,
    WorkingHours,
    parse_clock,
    parse_days,
    zone_or_utc,
)
from bot.language.duration import DurationTooLong, parse_duration
from bot.runtime import Runtime
from bot.slack.text import clip
from bot.timing.reminders import REMINDER_KINDS, hours_of
from storage.db import unit_of_work
from storage.models import Person, Timer
from storage.vocabulary import TimerState

MAX_AWAY = timedelta(days=365)
AWAY_LIMIT = "Baton takes time away of up to a year (365 days)"
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
UNTIL_HINT = "write a date (2026-12-04), a date and time (2026-12-04 13:00), `tomorrow`, a day "
UNTIL_HINT += "(friday) or a duration (3d, 1w)"


class TimePassed(InvalidInput):
    """The moment given is already past."""


@dataclass(frozen=True, slots=True)
class Until:
    at: datetime  # UTC: reminders resume from this moment
    shown: str  # how the person wrote it, spelled out in their zone


@reads_input
def parse_until(
    words: list[str],
    tz: str,
    now: datetime,
    *,
    day_ends: time | None = None,
    limit: tuple[timedelta, str] = (MAX_AWAY, AWAY_LIMIT),
    asked: str = "Away until when?",
) -> tuple[Until, list[str]]:
    """A moment as people write it, read in their zone: `tomorrow`, a day (`friday`), a date
    (`2026-12-04`), a date and time (`2026-12-04 13:00`) or a duration (`3d`). The one parser
    for `away <until>` and `run ... by <when>`. A day means through its end, or until
    `day_ends` on it (a deadline's 18:00). Returns the words after it; ValueError explains a
    mistake, including a moment already past or beyond `limit` (the span and why)."""
    if not words:
        raise ValueError(f"{asked} {UNTIL_HINT}")
    zone = zone_or_utc(tz)
    today = now.astimezone(zone).date()
    first = words[0].lower()
    longest, too_long = limit
    day: date | None = None
    if first == "tomorrow":
        day = today + timedelta(days=1)
    elif first == "today":
        day = today
    elif (weekday := _weekday(first)) is not None:
        day = today + timedelta(days=(weekday - today.weekday()) % 7)
    elif (match := _DATE.fullmatch(first)) is not None:
        try:
            day = date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            raise ValueError(f"`{clip(first, 80)}` is not a date") from None
        if day - today > longest:  # checked first: a day near year 9999 has no next day
            raise ValueError(too_long)
        if len(words) > 1 and ":" in words[1]:
            at = datetime.combine(day, parse_clock(words[1]), tzinfo=zone)
            shown = f"until {at:%A} {at.day} {at:%B %Y %H:%M} ({tz})"
            return _checked(Until(at, shown), now, longest, too_long), words[2:]
    else:
        try:
            span = parse_duration(first)
        except DurationTooLong:
            raise ValueError(f"`{clip(words[0], 80)}` is too long: {too_long}") from None
        except ValueError:
            raise ValueError(f"`{clip(words[0], 80)}` is not a time: {UNTIL_HINT}") from None
        return _checked(Until(now + span, "for " + first), now, longest, too_long), words[1:]
    named_day = _weekday(first) is not None
    if named_day and day_ends and datetime.combine(day, day_ends, tzinfo=zone) <= now:
        day += timedelta(days=7)  # that day's deadline has gone today: next week's
    if day_ends is None:
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
        shown = f"through {day:%A} {day.day} {day:%B %Y} ({tz})"
    else:
        end = datetime.combine(day, day_ends, tzinfo=zone)
        shown = f"until {day:%A} {day.day} {day:%B %Y} {day_ends:%H:%M} ({tz})"
    return _checked(Until(end, shown), now, longest, too_long), words[1:]


def _weekday(word: str) -> int | None:
    for index, full in enumerate(FULL_DAY_NAMES):
        if len(word) >= 3 and full.startswith(word):
            return index
    return None


def _checked(until: Until, now: datetime, longest: timedelta, too_long: str) -> Until:
    if until.at <= now:
        raise TimePassed("That time has passed already")
    if until.at - now > longest:
        raise ValueError(too_long)
    return until


@reads_input
def parse_hours(words: list[str]) -> WorkingHours:
    """`HH:MM-HH:MM [days]` (zone filled in later). ValueError explains a mistake."""
    if not words:
        raise ValueError("Give your hours as HH:MM-HH:MM, e.g. 08:30-17:00")
    start_text, dash, end_text = words[0].partition("-")
    if not dash:
        raise ValueError(
            f"`{clip(words[0], 80)}` is not a span: write HH:MM-HH:MM, e.g. 08:30-17:00"
        )
    if not start_text.strip() or not end_text.strip():
        missing = " and ".join(
            part
            for part, text in (("a start", start_text), ("an end", end_text))
            if not text.strip()
        )
        raise ValueError(
            f"`{clip(words[0], 80)}` lacks {missing}: write HH:MM-HH:MM, e.g. 08:30-17:00"
        )
    start, end = parse_clock(start_text), parse_clock(end_text)
    if start == end:
        raise ValueError("Your hours must not start and end at the same time")
    days = parse_days(" ".join(words[1:])) if len(words) > 1 else None
    return WorkingHours(zone_or_utc("UTC"), start, end, days or frozenset(range(5)))


# -- use cases --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Availability:
    hours: WorkingHours
    away_until: datetime | None
    delegate_id: str | None


async def availability(runtime: Runtime, team_id: str, user_id: str) -> Availability:
    person = await runtime.directory.person(team_id, user_id)
    now = runtime.clock.now()
    away = person.away_until if person.away_until and person.away_until > now else None
    return Availability(hours_of(person), away, person.delegate_id if away else None)


async def set_hours(
    runtime: Runtime, team_id: str, user_id: str, hours: WorkingHours
) -> WorkingHours:
    person = await runtime.directory.person(team_id, user_id)  # the row exists, zone fresh
    async with unit_of_work(runtime.sessions) as session:
        await session.exec(
            update(Person)
            .where(col(Person.team_id) == team_id, col(Person.user_id) == user_id)
            .values(
                work_start=f"{hours.start:%H:%M}",
                work_end=f"{hours.end:%H:%M}",
                work_days="".join(str(day) for day in sorted(hours.days)),
            )
        )
    return WorkingHours(zone_or_utc(person.tz), hours.start, hours.end, hours.days)


async def set_away(
    runtime: Runtime, team_id: str, user_id: str, until: datetime, delegate_id: str | None
) -> None:
    await runtime.directory.person(team_id, user_id)
    async with unit_of_work(runtime.sessions) as session:
        await session.exec(
            update(Person)
            .where(col(Person.team_id) == team_id, col(Person.user_id) == user_id)
            .values(away_until=until, delegate_id=delegate_id)
        )


async def end_away(runtime: Runtime, team_id: str, user_id: str) -> bool:
    """Back early: reminders that were waiting for the announced return come due now.
    Returns whether the person was away."""
    person = await runtime.directory.person(team_id, user_id)
    now = runtime.clock.now()
    was_away = person.away_until is not None and person.away_until > now
    async with unit_of_work(runtime.sessions) as session:
        await session.exec(
            update(Person)
            .where(col(Person.team_id) == team_id, col(Person.user_id) == user_id)
            .values(away_until=None, delegate_id=None)
        )
        if was_away and person.away_until is not None:
            resume = hours_of(person).next_start(person.away_until)
            await session.exec(
                update(Timer)
                .where(
                    col(Timer.team_id) == team_id,
                    col(Timer.recipient_id) == user_id,
                    col(Timer.state) == TimerState.PENDING,
                    col(Timer.kind).in_(REMINDER_KINDS),
                    col(Timer.due_at) >= person.away_until,
                    col(Timer.due_at) <= resume,
                )
                .values(due_at=now)
            )
    return was_away
