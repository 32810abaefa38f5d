"""`run ... by <when>` reads its deadline with the parser `away <until>` uses, over real HTTP:
the same words work for both, in the caller's zone, and both refuse the past.

The clock starts on Monday 2026-11-23 08:00 UTC; Alice is in Europe/Berlin (UTC+1).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select

from storage.models import Person, Run
from tests.stack import START, Stack

FORM = 'define f Form\na: "Greet {boss}" <@U0BOB|bob>'


async def deadlines(stack: Stack) -> list[datetime | None]:
    async with stack.baton.runtime.sessions() as session:
        rows = (await session.exec(select(Run).order_by(col(Run.id)))).all()
    return [run.deadline for run in rows]


async def test_by_takes_what_away_takes(stack: Stack) -> None:
    await stack.command(FORM, user="U0ALICE")
    for when in ("friday", "tomorrow", "2026-11-30 12:00", "3d"):
        await stack.command(f"run f by {when} boss=x", user="U0ALICE")
        assert "Started `f-" in stack.ephemeral("U0ALICE"), when
    assert await deadlines(stack) == [
        datetime(2026, 11, 27, 17, 0, tzinfo=UTC),  # Friday 18:00 in Berlin
        datetime(2026, 11, 24, 17, 0, tzinfo=UTC),
        datetime(2026, 11, 30, 11, 0, tzinfo=UTC),
        START + timedelta(days=3),
    ]
    await stack.command("away friday", user="U0ALICE")
    assert "through Friday 27 November 2026" in stack.ephemeral("U0ALICE")
    async with stack.baton.runtime.sessions() as session:
        alice = (await session.exec(select(Person).where(Person.user_id == "U0ALICE"))).one()
    assert alice.away_until == datetime(2026, 11, 27, 23, 0, tzinfo=UTC)


async def test_a_weekday_whose_deadline_passed_today_means_next_week(stack: Stack) -> None:
    await stack.command(FORM, user="U0ALICE")
    stack.clock.set(datetime(2026, 11, 27, 18, 0, tzinfo=UTC))  # Friday 19:00 in Berlin
    await stack.command("run f boss=x by fri", user="U0ALICE")
    assert await deadlines(stack) == [datetime(2026, 12, 4, 17, 0, tzinfo=UTC)]


@pytest.mark.parametrize(
    ("when", "problem"),
    [
        ("2026-11-20", "`by 2026-11-20`: that deadline (18:00 your time) has passed"),
        ("2026-11-23 08:30", "`by 2026-11-23 08:30`: that deadline has passed"),
        ("someday", "`someday` is not a time: write a date (2026-12-04)"),
        ("2026-02-30", "`2026-02-30` is not a date"),
        ("", "By when? write a date"),
    ],
)
async def test_bad_or_past_deadlines_are_refused(stack: Stack, when: str, problem: str) -> None:
    await stack.command(FORM, user="U0ALICE")
    await stack.command(f"run f boss=x by {when}".strip(), user="U0ALICE")
    reply = stack.ephemeral("U0ALICE")
    assert problem in reply and "Usage: `/baton run" in reply
    assert await deadlines(stack) == []


async def test_away_refuses_the_past_as_by_does(stack: Stack) -> None:
    await stack.command("away 2026-11-20", user="U0ALICE")
    assert "That time has passed already" in stack.ephemeral("U0ALICE")
