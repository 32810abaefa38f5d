"""A person's working hours in their own zone: is it working time, when do they next start,
what is "one working day after". Pure and DST-safe: periods are built from local wall times
with zoneinfo and compared as UTC instants."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.slack.text import clip

DEFAULT_START = time(9, 0)
DEFAULT_END = time(18, 0)
DEFAULT_DAYS = frozenset(range(5))  # Monday to Friday; Monday is 0 as in date.weekday()
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# How far ahead periods are looked for: enough for any count of working days we ask about.
_HORIZON_DAYS = 400
_CLOCK = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")


def zone_or_utc(name: str | None) -> ZoneInfo:
    """The IANA zone Slack gave, or UTC when it is missing or unknown here."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def parse_clock(text: str) -> time:
    """`HH:MM` (24-hour); ValueError says what was wrong."""
    match = _CLOCK.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"`{clip(text, 80)}` is not a time: write it as HH:MM, e.g. 09:00")
    return time(int(match[1]), int(match[2]))


def parse_days(text: str) -> frozenset[int]:
    """`mon-fri`, `sun-thu`, `mon,wed,fri`, `weekdays`, `weekends`, `everyday`."""
    spelled = text.strip().lower()
    named = {
        "weekdays": DEFAULT_DAYS,
        "weekends": frozenset({5, 6}),
        "everyday": frozenset(range(7)),
        "daily": frozenset(range(7)),
    }
    if spelled in named:
        return named[spelled]
    days: set[int] = set()
    for part in filter(None, spelled.replace(" ", ",").split(",")):
        first, _, last = part.partition("-")
        start, end = _day(first), _day(last) if last else _day(first)
        span = (end - start) % 7
        days.update((start + offset) % 7 for offset in range(span + 1))
    if not days:
        raise ValueError("name at least one day, e.g. mon-fri")
    return frozenset(days)


def _day(word: str) -> int:
    for index, full in enumerate(FULL_DAY_NAMES):
        if len(word) >= 3 and full.startswith(word):
            return index
    raise ValueError(f"`{clip(word, 80)}` is not a day: write mon, tue, wed, thu, fri, sat or sun")


def days_text(days: frozenset[int]) -> str:
    """Days as people write them: Mon-Fri, Sat-Sun, Mon, Wed, Fri."""
    if len(days) == 7:
        return "every day"
    ordered = sorted(days)
    runs: list[list[int]] = []
    for day in ordered:
        if runs and day == runs[-1][-1] + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    # A run through Sunday continues with Monday (Sat-Mon), as a week wraps around.
    if len(runs) > 1 and runs[0][0] == 0 and runs[-1][-1] == 6:
        runs[0] = runs.pop() + runs[0]
    parts = [
        DAY_NAMES[run[0]].title()
        if len(run) == 1
        else f"{DAY_NAMES[run[0]].title()}-{DAY_NAMES[run[-1]].title()}"
        for run in runs
    ]
    return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class WorkingHours:
    """Working periods: on each working day, `start` to `end` local time (an end at or before
    the start runs past midnight, for night shifts)."""

    zone: ZoneInfo
    start: time = DEFAULT_START
    end: time = DEFAULT_END
    days: frozenset[int] = DEFAULT_DAYS

    @classmethod
    def of(cls, tz: str | None, start: str, end: str, days: str) -> WorkingHours:
        """From a Person row's columns, falling back to the defaults for anything unreadable."""
        try:
            start_at, end_at = parse_clock(start), parse_clock(end)
        except ValueError:
            start_at, end_at = DEFAULT_START, DEFAULT_END
        chosen = frozenset(int(c) for c in days if c.isdigit() and int(c) < 7) or DEFAULT_DAYS
        return cls(zone_or_utc(tz), start_at, end_at, chosen)

    def describe(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M} {days_text(self.days)} ({self.zone.key})"

    def _period(self, day: date) -> tuple[datetime, datetime]:
        begin = datetime.combine(day, self.start, tzinfo=self.zone)
        finish_day = day if self.end > self.start else day + timedelta(days=1)
        finish = datetime.combine(finish_day, self.end, tzinfo=self.zone)
        return begin.astimezone(UTC), finish.astimezone(UTC)

    def periods(self, moment: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working periods (UTC) that end after `moment`, in order; the first may contain it."""
        day = moment.astimezone(self.zone).date() - timedelta(days=1)  # a night shift's tail
        for offset in range(_HORIZON_DAYS):
            current = day + timedelta(days=offset)
            if current.weekday() not in self.days:
                continue
            begin, finish = self._period(current)
            if finish > moment:
                yield begin, finish

    def is_working(self, moment: datetime) -> bool:
        begin, _ = next(self.periods(moment))
        return begin <= moment

    def next_start(self, moment: datetime) -> datetime:
        """`moment` itself inside working hours, else the start of the next working period."""
        begin, _ = next(self.periods(moment))
        return max(begin, moment)

    def next_day_start(self, moment: datetime) -> datetime:
        """The start of work on a later local day than `moment`'s ("until tomorrow")."""
        today = moment.astimezone(self.zone).date()
        for begin, _ in self.periods(moment):
            if begin.astimezone(self.zone).date() > today:
                return begin
        raise AssertionError("working days recur every week")  # pragma: no cover

    def working_days_after(self, moment: datetime, count: int) -> datetime:
        """The same point of the working day `count` working days later: one working day
        after Monday 15:00 is Tuesday 15:00, after Friday 15:00 it is Monday 15:00. A moment
        outside working hours counts from the next start, so one working day after Saturday
        is the start of Tuesday (the end of Monday)."""
        found = self.periods(moment)
        begin, finish = next(found)
        fraction = max(moment - begin, timedelta(0)) / (finish - begin)
        for _ in range(count):
            begin, finish = next(found)
        return begin + (finish - begin) * fraction
