"""Time arithmetic, pure: working hours across zones and DST, `<when>` and `<until>` parsing,
cron next fire times in IANA zones."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.core.working_hours import WorkingHours, days_text, parse_days
from bot.people.availability import parse_hours, parse_until
from bot.timing.when import next_fire, parse_when

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")


def at(zone: ZoneInfo, *parts: int) -> datetime:
    """A local wall time in `zone`, as the UTC instant Baton stores."""
    year, month, day, hour, minute = parts
    return datetime(year, month, day, hour, minute, tzinfo=zone).astimezone(UTC)


def local(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.astimezone(zone).replace(tzinfo=None)


def test_default_hours_are_monday_to_friday_nine_to_six_local() -> None:
    hours = WorkingHours(BERLIN)
    assert hours.is_working(at(BERLIN, 2026, 11, 23, 9, 0))
    assert hours.is_working(at(BERLIN, 2026, 11, 23, 17, 59))
    assert not hours.is_working(at(BERLIN, 2026, 11, 23, 18, 0))
    assert not hours.is_working(at(BERLIN, 2026, 11, 23, 8, 59))
    assert not hours.is_working(at(BERLIN, 2026, 11, 28, 12, 0))  # Saturday


def test_two_in_the_morning_waits_for_nine_local() -> None:
    hours = WorkingHours(TOKYO)
    night = at(TOKYO, 2026, 11, 24, 2, 0)
    assert local(hours.next_start(night), TOKYO) == datetime(2026, 11, 24, 9, 0)
    inside = at(TOKYO, 2026, 11, 24, 11, 0)
    assert hours.next_start(inside) == inside


def test_friday_evening_waits_for_monday() -> None:
    hours = WorkingHours(NEW_YORK)
    friday = at(NEW_YORK, 2026, 11, 27, 19, 30)
    assert local(hours.next_start(friday), NEW_YORK) == datetime(2026, 11, 30, 9, 0)


@pytest.mark.parametrize(
    ("zone", "friday", "monday", "utc_before", "utc_after"),
    [
        # Europe springs forward on 2027-03-28, the US on 2027-03-14.
        (BERLIN, (2027, 3, 26), (2027, 3, 29), 8, 7),
        (NEW_YORK, (2027, 3, 12), (2027, 3, 15), 14, 13),
    ],
)
def test_start_of_work_stays_nine_local_across_spring_dst(
    zone: ZoneInfo,
    friday: tuple[int, int, int],
    monday: tuple[int, int, int],
    utc_before: int,
    utc_after: int,
) -> None:
    hours = WorkingHours(zone)
    before = hours.next_start(at(zone, *friday, 6, 0))
    after = hours.next_start(at(zone, *friday, 19, 0))
    assert local(before, zone) == datetime(*friday, 9, 0)
    assert local(after, zone) == datetime(*monday, 9, 0)
    assert (before.hour, after.hour) == (utc_before, utc_after)


def test_autumn_dst_keeps_nine_local() -> None:
    hours = WorkingHours(BERLIN)  # Europe falls back on 2026-10-25 (a Sunday)
    monday = hours.next_start(at(BERLIN, 2026, 10, 24, 12, 0))
    assert local(monday, BERLIN) == datetime(2026, 10, 26, 9, 0)
    assert monday.hour == 8  # CET, UTC+1; the Friday before started at 07:00 UTC


def test_one_working_day_after_keeps_the_point_in_the_day() -> None:
    hours = WorkingHours(BERLIN)
    monday = at(BERLIN, 2026, 11, 23, 15, 0)
    assert local(hours.working_days_after(monday, 1), BERLIN) == datetime(2026, 11, 24, 15, 0)
    friday = at(BERLIN, 2026, 11, 27, 15, 0)
    assert local(hours.working_days_after(friday, 1), BERLIN) == datetime(2026, 11, 30, 15, 0)
    assert local(hours.working_days_after(friday, 3), BERLIN) == datetime(2026, 12, 2, 15, 0)
    # Outside hours counts from the next start: a Saturday's working day is all of Monday.
    saturday = at(BERLIN, 2026, 11, 28, 10, 0)
    assert local(hours.working_days_after(saturday, 1), BERLIN) == datetime(2026, 12, 1, 9, 0)


def test_one_working_day_after_across_dst_is_the_same_local_time() -> None:
    hours = WorkingHours(BERLIN)
    friday = at(BERLIN, 2027, 3, 26, 15, 0)
    monday = hours.working_days_after(friday, 1)
    assert local(monday, BERLIN) == datetime(2027, 3, 29, 15, 0)
    assert monday - friday == timedelta(days=3, hours=-1)


def test_next_day_start_is_tomorrow_morning_or_after_the_weekend() -> None:
    hours = WorkingHours(BERLIN)
    assert local(hours.next_day_start(at(BERLIN, 2026, 11, 23, 10, 0)), BERLIN) == datetime(
        2026, 11, 24, 9, 0
    )
    assert local(hours.next_day_start(at(BERLIN, 2026, 11, 27, 10, 0)), BERLIN) == datetime(
        2026, 11, 30, 9, 0
    )
    # Before today's start, "tomorrow" is still tomorrow.
    assert local(hours.next_day_start(at(BERLIN, 2026, 11, 23, 7, 0)), BERLIN) == datetime(
        2026, 11, 24, 9, 0
    )


def test_night_shift_runs_past_midnight() -> None:
    hours = WorkingHours(BERLIN, time(22, 0), time(6, 0), frozenset(range(5)))
    assert hours.is_working(at(BERLIN, 2026, 11, 23, 23, 0))
    assert hours.is_working(at(BERLIN, 2026, 11, 24, 5, 0))
    assert hours.is_working(at(BERLIN, 2026, 11, 28, 5, 0))  # Friday night's shift
    assert not hours.is_working(at(BERLIN, 2026, 11, 28, 23, 0))
    assert local(hours.next_start(at(BERLIN, 2026, 11, 24, 12, 0)), BERLIN) == datetime(
        2026, 11, 24, 22, 0
    )


def test_person_columns_fall_back_to_defaults() -> None:
    hours = WorkingHours.of("Not/AZone", "25:00", "18:00", "")
    assert hours.zone.key == "UTC"
    assert (hours.start, hours.end, hours.days) == (time(9), time(18), frozenset(range(5)))
    assert WorkingHours.of("Asia/Tokyo", "08:30", "17:00", "0246").describe() == (
        "08:30-17:00 Sun-Mon, Wed, Fri (Asia/Tokyo)"
    )


@pytest.mark.parametrize(
    ("text", "days", "shown"),
    [
        ("mon-fri", {0, 1, 2, 3, 4}, "Mon-Fri"),
        ("sun-thu", {6, 0, 1, 2, 3}, "Sun-Thu"),
        ("monday,wednesday, friday", {0, 2, 4}, "Mon, Wed, Fri"),
        ("weekends", {5, 6}, "Sat-Sun"),
        ("everyday", set(range(7)), "every day"),
        ("tue", {1}, "Tue"),
    ],
)
def test_days_read_and_shown(text: str, days: set[int], shown: str) -> None:
    assert parse_days(text) == frozenset(days)
    assert days_text(frozenset(days)) == shown


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("funday", "not a day"),
        ("mo", "not a day"),
        ("", "at least one day"),
        ("mon-xyz", "`xyz` is not a day"),
    ],
)
def test_bad_days_say_so(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_days(text)


def test_hours_command_text() -> None:
    hours = parse_hours(["08:30-17:00", "mon-thu"])
    assert (hours.start, hours.end, hours.days) == (time(8, 30), time(17), frozenset(range(4)))
    assert parse_hours(["22:00-06:00"]).end == time(6)
    mistakes = [
        (["9-5"], "not a time"),
        (["09:00"], "not a span"),
        (["09:00-09:00"], "same time"),
        (["09:00-18:00", "someday"], "not a day"),
    ]
    for words, problem in mistakes:
        with pytest.raises(ValueError, match=problem):
            parse_hours(words)


NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # Monday 09:00 in Berlin


def test_away_until_a_day_means_through_its_end_in_my_zone() -> None:
    until, rest = parse_until(["2026-11-27", "delegate", "<@U0BOB>"], "Europe/Berlin", NOW)
    assert local(until.at, BERLIN) == datetime(2026, 11, 28, 0, 0)
    assert until.shown == "through Friday 27 November 2026 (Europe/Berlin)"
    assert rest == ["delegate", "<@U0BOB>"]
    friday, _ = parse_until(["friday"], "Europe/Berlin", NOW)
    assert friday.at == until.at
    tomorrow, _ = parse_until(["tomorrow"], "Asia/Tokyo", NOW)
    assert local(tomorrow.at, TOKYO) == datetime(2026, 11, 25, 0, 0)  # it is 17:00 Monday there
    exact, _ = parse_until(["2026-11-25", "13:00"], "America/New_York", NOW)
    assert local(exact.at, NEW_YORK) == datetime(2026, 11, 25, 13, 0)
    span, _ = parse_until(["3d"], "UTC", NOW)
    assert span.at == NOW + timedelta(days=3)


@pytest.mark.parametrize(
    ("words", "problem"),
    [
        (["2026-11-20"], "passed already"),
        (["yesterday"], "not a time"),
        (["2026-02-30"], "not a date"),
        (["2y"], "not a time"),
        ([], "until when"),
        (["2027-12-31"], "up to a year"),
    ],
)
def test_away_until_mistakes_say_so(words: list[str], problem: str) -> None:
    with pytest.raises(ValueError, match=f"(?i){problem}"):
        parse_until(words, "Europe/Berlin", NOW)


@pytest.mark.parametrize(
    ("text", "spec", "cron"),
    [
        ("daily 9:00", "daily 09:00", "0 9 * * *"),
        ("weekdays 08:30", "weekdays 08:30", "30 8 * * mon-fri"),
        ("weekly Fri 16:00", "weekly friday 16:00", "0 16 * * fri"),
        # crontab numbers Sunday 0 (and 7); APScheduler 3 numbers Monday 0, so names are stored.
        ("0 9 * * 1-5", "0 9 * * 1-5", "0 9 * * mon,tue,wed,thu,fri"),
        ("0 9 * * 0", "0 9 * * 0", "0 9 * * sun"),
        ("0 9 * * 7", "0 9 * * 7", "0 9 * * sun"),
        ("0 9 * * sat-mon", "0 9 * * sat-mon", "0 9 * * sun,mon,sat"),
        ("*/15 * * * *", "*/15 * * * *", "*/15 * * * *"),
    ],
)
def test_when_is_stored_as_crontab(text: str, spec: str, cron: str) -> None:
    when, rest = parse_when([*text.split(), "hire=x"])
    assert (when.spec, when.cron) == (spec, cron)
    assert rest == ["hire=x"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("daily", "needs more"),
        ("daily 25:00", "not a time"),
        ("weekly 10:00", "not a day"),
        ("monthly 09:00", "not a schedule"),
        ("0 9 * *", "not a schedule"),
        ("61 * * * *", "not a valid cron"),
        ("0 9 1 * mon", "not both"),
    ],
)
def test_bad_when_says_so(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_when(text.split())


def test_cron_weekday_numbers_mean_what_crontab_means() -> None:
    monday, _ = parse_when(["0", "9", "*", "*", "1"])
    sunday, _ = parse_when(["0", "9", "*", "*", "0"])
    assert next_fire(monday.cron, "UTC", NOW) == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    assert next_fire(sunday.cron, "UTC", NOW) == datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "before", "after", "utc_before", "utc_after"),
    [
        (BERLIN, (2027, 3, 27), (2027, 3, 28), 8, 7),
        (NEW_YORK, (2027, 3, 13), (2027, 3, 14), 14, 13),
        (BERLIN, (2026, 10, 24), (2026, 10, 25), 7, 8),
        (NEW_YORK, (2026, 10, 31), (2026, 11, 1), 13, 14),
    ],
)
def test_daily_nine_stays_nine_local_across_dst(
    zone: ZoneInfo,
    before: tuple[int, int, int],
    after: tuple[int, int, int],
    utc_before: int,
    utc_after: int,
) -> None:
    when, _ = parse_when(["daily", "09:00"])
    first = next_fire(when.cron, zone.key, at(zone, *before, 0, 0))
    second = next_fire(when.cron, zone.key, first)
    assert local(first, zone) == datetime(*before, 9, 0)
    assert local(second, zone) == datetime(*after, 9, 0)
    assert (first.hour, second.hour) == (utc_before, utc_after)
