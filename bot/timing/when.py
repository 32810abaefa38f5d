"""When a schedule fires: a `<when>` (`daily HH:MM`, `weekdays HH:MM`, `weekly <day> HH:MM` or a
5-field cron) as a crontab, and its next fire time from APScheduler's cron trigger in an IANA
zone. Pure: no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from bot.core.errors import reads_input
from bot.core.working_hours import FULL_DAY_NAMES, parse_clock
from bot.slack.text import clip

WHEN_HINT = (
    "write `daily HH:MM`, `weekdays HH:MM`, `weekly <day> HH:MM` or a 5-field cron "
    "such as `30 9 * * mon-fri`"
)
_CRON_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # crontab numbering, 0 = Sunday
_CRON_FIELD = re.compile(r"[0-9a-zA-Z*,/\-]+")
_ONE_TICK = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class When:
    spec: str  # what the user wrote, normalised: shown back in `schedules`
    cron: str  # five crontab fields, weekdays by name (APScheduler 3 numbers them from Monday)


@reads_input
def parse_when(words: list[str]) -> tuple[When, list[str]]:
    """The `<when>` at the start of `words`, and the words after it. ValueError explains."""
    if not words:
        raise ValueError(f"When should it run? {WHEN_HINT}")
    first = words[0].lower()
    if first in ("daily", "weekdays"):
        at = parse_clock(_word(words, 1, first))
        days = "*" if first == "daily" else "mon-fri"
        return When(f"{first} {at:%H:%M}", f"{at.minute} {at.hour} * * {days}"), words[2:]
    if first == "weekly":
        day = _weekday(_word(words, 1, "weekly"))
        at = parse_clock(_word(words, 2, f"weekly {day}"))
        cron = f"{at.minute} {at.hour} * * {day[:3]}"
        return When(f"weekly {day} {at:%H:%M}", cron), words[3:]
    fields = words[:5]
    if len(fields) < 5 or not all(_CRON_FIELD.fullmatch(field) for field in fields):
        raise ValueError(f"`{clip(' '.join(words), 80)}` is not a schedule: {WHEN_HINT}")
    cron = " ".join([*fields[:4], _cron_weekdays(fields[4])])
    if fields[2] != "*" and fields[4] != "*":
        raise ValueError(
            "Give a day of the month or days of the week, not both (cron would run on either)"
        )
    try:
        trigger = CronTrigger.from_crontab(cron, timezone=ZoneInfo("UTC"))
    except ValueError as exc:
        raise ValueError(f"`{clip(' '.join(fields), 80)}` is not a valid cron: {exc}") from None
    # A date no calendar has (`0 0 31 2 *`, February 31st): the trigger would never fire.
    if trigger.get_next_fire_time(None, datetime(2000, 1, 1, tzinfo=UTC)) is None:
        raise ValueError(
            f"`{clip(' '.join(fields), 80)}` never happens: no date matches it. {WHEN_HINT}"
        )
    return When(" ".join(fields), cron), words[5:]


def _word(words: list[str], index: int, after: str) -> str:
    if len(words) <= index:
        raise ValueError(f"`{clip(after, 80)}` needs more: {WHEN_HINT}")
    return words[index]


def _weekday(word: str) -> str:
    for full in FULL_DAY_NAMES:
        if len(word) >= 3 and full.startswith(word.lower()):
            return full
    raise ValueError(f"`{clip(word, 80)}` is not a day of the week: write e.g. `weekly fri 16:00`")


def _cron_weekdays(spelled: str) -> str:
    """A crontab day-of-week field (0 or 7 = Sunday) as day names, which mean the same to
    APScheduler (whose numbers start at Monday)."""
    if spelled == "*":
        return spelled
    days: set[int] = set()
    for part in spelled.lower().split(","):
        span, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() else 1
        if step_text and not step_text.isdigit():
            raise ValueError(f"`{clip(spelled, 80)}` is not a day-of-week field")
        if span == "*":
            first, last = 0, 6
        else:
            low, _, high = span.partition("-")
            first = _cron_day(low, spelled)
            last = _cron_day(high, spelled) if high else first
            if last < first:
                last += 7  # `fri-sun`, `sat-mon`: ranges run on through the week's end
        days.update(day % 7 for day in range(first, last + 1, step))
    if not days:
        raise ValueError(f"`{clip(spelled, 80)}` names no day of the week")
    return ",".join(_CRON_NAMES[day] for day in sorted(days))


def _cron_day(text: str, spelled: str) -> int:
    if text.isdigit() and int(text) <= 7:
        return int(text) % 7
    if text[:3] in _CRON_NAMES:
        return _CRON_NAMES.index(text[:3])
    raise ValueError(f"`{clip(spelled, 80)}` is not a day-of-week field")


def next_fire(cron: str, tz: str, after: datetime) -> datetime:
    """The first occurrence strictly after `after`, as a UTC instant (local wall time is kept
    across daylight-saving changes: `daily 09:00` stays 09:00 local)."""
    trigger = CronTrigger.from_crontab(cron, timezone=ZoneInfo(tz))
    fire: datetime | None = trigger.get_next_fire_time(None, after + _ONE_TICK)
    assert fire is not None, "cron triggers without an end date always fire again"
    return fire.astimezone(UTC)
