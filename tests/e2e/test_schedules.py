"""Recurring runs: `schedule`, `schedules`, `unschedule`, and each occurrence firing once, at
the local time asked for, across daylight-saving changes and downtime."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import SQLModel, func, select

from bot.core.errors import Conflict
from bot.runs import lifecycle as runs_module
from bot.runs.engine import LockedRun
from bot.work import Work
from storage.db import unit_of_work
from storage.models import AuditEvent, Outbox, Schedule, StepRun
from tests.stack import Stack

STANDUP = "define standup Daily standup\npost: Post your update <@U0BOB|bob>"
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def cards(stack: Stack, channel: str) -> list[str]:
    return [m.text for m in stack.emulator.messages(channel) if not m.is_reply]


async def test_schedule_is_shown_back_in_my_zone_and_listed(stack: Stack) -> None:
    await stack.command(STANDUP, user="U0ALICE")
    await stack.command("schedule standup weekdays 09:00", user="U0ALICE", channel="C0OPS")
    reply = stack.ephemeral("U0ALICE")
    assert "Scheduled `standup` weekdays 09:00 (Europe/Berlin time) as schedule 1" in reply
    assert "posting in <#C0OPS>" in reply
    # Tuesday 09:00 in Berlin (it is 09:00 on Monday now: that one is not "next").
    assert "|2026-11-24 08:00 UTC>" in reply

    await stack.command("schedule standup 30 16 * * 5 <#C0GENERAL|general>", user="U0ALICE")
    await stack.command("schedules", user="U0BOB")
    listing = stack.ephemeral("U0BOB")
    assert "`1` `standup` · weekdays 09:00 (Europe/Berlin)" in listing
    assert "`2` `standup` · 30 16 * * 5 (Europe/Berlin)" in listing
    assert "<#C0GENERAL> · by <@U0ALICE>" in listing

    # Only the workflow's editors (and the schedule's maker) may change schedules.
    await stack.command("schedule standup daily 10:00", user="U0BOB")
    assert "Only the owner of `standup`" in stack.ephemeral("U0BOB")
    await stack.command("unschedule 1", user="U0BOB")
    assert "may remove it" in stack.ephemeral("U0BOB")
    await stack.command("unschedule 1", user="U0ALICE")
    assert "Removed schedule 1: `standup` weekdays 09:00" in stack.ephemeral("U0ALICE")
    await stack.command("unschedule 1", user="U0ALICE")
    assert "There is no schedule 1" in stack.ephemeral("U0ALICE")
    await stack.command("schedules", user="U0BOB")
    assert "`1`" not in stack.ephemeral("U0BOB")


async def test_schedule_mistakes_are_explained(stack: Stack) -> None:
    await stack.command('define hiring Hire\nmeet: "Meet {candidate}" <@U0BOB|bob>', user="U0ALICE")
    await stack.command("schedule hiring", user="U0ALICE")
    assert "Usage: `/baton schedule &lt;name&gt; &lt;when&gt; [key=value ...]`" in stack.ephemeral(
        "U0ALICE"
    )
    await stack.command("schedule hiring sometimes", user="U0ALICE")
    assert "`sometimes` is not a schedule" in stack.ephemeral("U0ALICE")
    await stack.command("schedule hiring &lt;b&gt; 09:00", user="U0ALICE")  # as Slack sends it
    assert "`&lt;b&gt; 09:00` is not a schedule" in stack.ephemeral("U0ALICE")
    await stack.command("schedule hiring weekly funday 10:00", user="U0ALICE")
    assert "`funday` is not a day of the week" in stack.ephemeral("U0ALICE")
    await stack.command("schedule hiring daily 09:00", user="U0ALICE")
    assert "Each run needs candidate" in stack.ephemeral("U0ALICE")
    await stack.command("schedule hiring daily 09:00 role=x", user="U0ALICE")
    assert "No parameter role" in stack.ephemeral("U0ALICE")
    await stack.command("schedule nothing daily 09:00", user="U0ALICE")
    assert "There is no workflow named `nothing`" in stack.ephemeral("U0ALICE")
    await stack.command("schedule hiring daily 09:00 candidate=Sam", user="U0ALICE")
    assert "as schedule 1" in stack.ephemeral("U0ALICE")


async def test_scheduled_run_fires_once_per_occurrence(stack: Stack) -> None:
    await stack.command(STANDUP, user="U0ALICE")
    await stack.command("schedule standup weekdays 09:00", user="U0ALICE", channel="C0OPS")
    # A week of ticks every 15 minutes, as the scheduler would run them.
    end = stack.clock.now() + timedelta(days=7)
    while stack.clock.now() < end:
        await stack.sweep_at(stack.clock.now() + timedelta(minutes=15))
    started = await stack.runs()
    # Tuesday to Friday, and Monday again: 09:00 Berlin is 08:00 UTC in winter.
    assert [r.key for r in started] == [f"standup-{n}" for n in range(1, 6)]
    assert [r.created_at.astimezone(BERLIN).strftime("%a %H:%M") for r in started] == [
        "Tue 09:00",
        "Wed 09:00",
        "Thu 09:00",
        "Fri 09:00",
        "Mon 09:00",
    ]
    assert {r.owner_id for r in started} == {"U0ALICE"}
    assert len(cards(stack, "C0OPS")) == 5
    # Each run's thread says where it came from; Bob got one step DM per run.
    first = next(m for m in stack.emulator.messages("C0OPS") if not m.is_reply)
    thread = [m.text for m in stack.emulator.thread("C0OPS", first.ts)]
    assert any("Started by schedule 1 (weekdays 09:00, Europe/Berlin)" in t for t in thread)
    assert len([m for m in stack.emulator.dm("U0BOB") if "Post your update" in m.text]) == 5


async def _daily_nine_across(stack: Stack, user: str, zone: ZoneInfo, days: list[int]) -> None:
    """Around each day's 09:00 local: nothing at 08:00 or 08:59 local, one run at 09:00."""
    for day in days:
        nine = datetime(2027, 3, day, 9, 0, tzinfo=zone).astimezone(UTC)
        before = len(await stack.runs())
        await stack.sweep_at(nine - timedelta(hours=1))
        await stack.sweep_at(nine - timedelta(minutes=1))
        assert len(await stack.runs()) == before, f"ran early on March {day}"
        await stack.sweep_at(nine)
        await stack.sweep_at(nine + timedelta(minutes=59))
        started = await stack.runs()
        assert len(started) == before + 1, f"no single run on March {day}"
        assert started[-1].created_at == nine
        assert started[-1].created_at.astimezone(zone).hour == 9


async def test_daily_nine_stays_nine_local_across_dst(stack: Stack) -> None:
    await stack.command(STANDUP, user="U0BOB")
    # New York springs forward on Sunday 2027-03-14: 09:00 is 14:00 UTC before, 13:00 after.
    stack.clock.set(datetime(2027, 3, 12, 0, 0, tzinfo=UTC))
    await stack.command("schedule standup daily 09:00", user="U0BOB")
    assert "(America/New_York time)" in stack.ephemeral("U0BOB")
    await _daily_nine_across(stack, "U0BOB", NEW_YORK, [12, 13, 14, 15])
    await stack.command("unschedule 1", user="U0BOB")

    # Berlin springs forward on Sunday 2027-03-28: 09:00 is 08:00 UTC before, 07:00 after.
    await stack.command("define review Review\nread: Read <@U0ALICE|alice>", user="U0ALICE")
    stack.clock.set(datetime(2027, 3, 26, 0, 0, tzinfo=UTC))
    await stack.command("schedule review daily 09:00", user="U0ALICE")
    assert "(Europe/Berlin time)" in stack.ephemeral("U0ALICE")
    await _daily_nine_across(stack, "U0ALICE", BERLIN, [26, 27, 28, 29])


async def test_missed_occurrences_after_downtime_start_one_run(stack: Stack) -> None:
    await stack.command(STANDUP, user="U0ALICE")
    await stack.command("schedule standup daily 09:00", user="U0ALICE")
    # Down from Monday to Thursday noon: three 09:00s were missed.
    stack.clock.set(datetime(2026, 11, 26, 12, 0, tzinfo=UTC))
    for _ in range(3):  # the catch-up sweep at start, then ordinary ticks
        await stack.baton.sweeper.sweep()
    await stack.settle()
    assert len(await stack.runs()) == 1
    # The next occurrence is Friday's, as usual.
    await stack.sweep_at(datetime(2026, 11, 27, 7, 59, tzinfo=UTC))
    assert len(await stack.runs()) == 1
    await stack.sweep_at(datetime(2026, 11, 27, 8, 0, tzinfo=UTC))
    assert len(await stack.runs()) == 2


async def test_schedule_of_a_deleted_workflow_pauses_until_it_is_restored(stack: Stack) -> None:
    await stack.command(STANDUP, user="U0ALICE")
    await stack.command("schedule standup daily 10:00", user="U0ALICE")
    await stack.command("delete standup", user="U0ALICE")
    assert "Its 1 schedule is paused." in stack.ephemeral("U0ALICE")
    await stack.sweep_at(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    assert await stack.runs() == []
    assert not any("could not start" in m.text for m in stack.emulator.dm("U0ALICE"))
    await stack.command("schedules", user="U0ALICE")
    assert "paused" in stack.ephemeral("U0ALICE")

    await stack.command("restore standup", user="U0ALICE")
    assert "Restored `standup`" in stack.ephemeral("U0ALICE")
    await stack.sweep_at(datetime(2026, 11, 24, 9, 0, tzinfo=UTC))
    assert len(await stack.runs()) == 1


# -- the claim and the run commit together ----------------------------------------------------

TEN_BERLIN = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # 10:00 in Berlin, Alice's zone


async def schedule_times(stack: Stack) -> tuple[datetime | None, datetime | None, bool]:
    async with unit_of_work(stack.baton.runtime.sessions) as session:
        row = (await session.exec(select(Schedule))).one()
    return row.next_fire_at, row.last_fired_at, row.active


async def count(stack: Stack, table: type[SQLModel]) -> int:
    async with unit_of_work(stack.baton.runtime.sessions) as session:
        return int((await session.exec(select(func.count()).select_from(table))).one())


async def test_a_run_start_that_dies_midway_is_started_once_by_the_next_sweep(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    await stack.command(STANDUP, user="U0ALICE")
    await stack.command("schedule standup daily 10:00", user="U0ALICE", channel="C0OPS")
    before = await schedule_times(stack)
    assert before == (TEN_BERLIN, None, True)
    outbox_before, audit_before = await count(stack, Outbox), await count(stack, AuditEvent)
    written: list[tuple[str, bool]] = []

    async def dies(work: Work, locked: LockedRun, actor: str) -> None:
        # The run and its steps are in the transaction already; then the process goes away.
        ids = [locked.run.id, *(step.id for step in locked.steps)]
        written.append((locked.run.key, all(i is not None for i in ids)))
        raise RuntimeError("the process died here")

    monkeypatch.setattr(runs_module, "advance", dies)
    await stack.sweep_at(TEN_BERLIN)
    assert written == [("standup-1", True)]
    # Nothing of the run is left, and the occurrence is still due.
    assert await stack.runs() == []
    assert await count(stack, StepRun) == 0
    assert await count(stack, AuditEvent) == audit_before
    assert await count(stack, Outbox) == outbox_before
    assert await schedule_times(stack) == before
    assert cards(stack, "C0OPS") == []
    assert not [m for m in stack.emulator.dm("U0ALICE") if "Schedule 1" in m.text]

    monkeypatch.undo()  # the next process starts
    await stack.sweep_at(TEN_BERLIN + timedelta(minutes=15))
    await stack.sweep_at(TEN_BERLIN + timedelta(minutes=30))
    started = await stack.runs()
    # One run, numbered 1: the number taken by the lost try went back with it.
    assert [(r.key, r.created_at) for r in started] == [
        ("standup-1", TEN_BERLIN + timedelta(minutes=15))
    ]
    assert await count(stack, StepRun) == 1
    assert await schedule_times(stack) == (
        TEN_BERLIN + timedelta(days=1),
        TEN_BERLIN + timedelta(minutes=15),
        True,
    )
    [card] = [m for m in stack.emulator.messages("C0OPS") if not m.is_reply]
    thread = [m.text for m in stack.emulator.thread("C0OPS", card.ts)]
    assert sum("Started by schedule 1 (daily 10:00, Europe/Berlin)" in t for t in thread) == 1
    assert len([m for m in stack.emulator.dm("U0BOB") if "Post your update" in m.text]) == 1


async def test_a_run_refused_midway_leaves_nothing_and_tells_the_maker(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    await stack.command(STANDUP, user="U0ALICE")
    await stack.command("schedule standup daily 10:00", user="U0ALICE", channel="C0OPS")
    audit_before = await count(stack, AuditEvent)

    async def refused(work: Work, locked: LockedRun, actor: str) -> None:
        raise Conflict("the run was refused after its rows were written")

    monkeypatch.setattr(runs_module, "advance", refused)
    await stack.sweep_at(TEN_BERLIN)
    monkeypatch.undo()
    # The occurrence is used up, its maker told why, and no half-started run is left.
    assert await stack.runs() == []
    assert await count(stack, StepRun) == 0
    assert await count(stack, AuditEvent) == audit_before
    assert cards(stack, "C0OPS") == []
    assert await schedule_times(stack) == (TEN_BERLIN + timedelta(days=1), TEN_BERLIN, True)
    told = [m.text for m in stack.emulator.dm("U0ALICE") if "Schedule 1" in m.text]
    assert told == [
        "Schedule 1 (daily 10:00) could not start a run of `standup`: "
        "the run was refused after its rows were written"
    ]

    await stack.sweep_at(TEN_BERLIN + timedelta(hours=1))
    assert await stack.runs() == []  # not tried again before the next occurrence
    await stack.sweep_at(TEN_BERLIN + timedelta(days=1))
    assert [r.key for r in await stack.runs()] == ["standup-1"]
    assert len(cards(stack, "C0OPS")) == 1


async def test_a_parameter_the_workflow_now_needs_is_explained_to_the_maker(stack: Stack) -> None:
    await stack.command(STANDUP, user="U0ALICE")
    await stack.command("schedule standup daily 10:00", user="U0ALICE")
    # A new version of the workflow needs a parameter the schedule does not give.
    await stack.command(
        "define standup Daily standup\npost: Post your update {who}", user="U0ALICE"
    )
    await stack.sweep_at(TEN_BERLIN)
    assert await stack.runs() == []
    [told] = [m.text for m in stack.emulator.dm("U0ALICE") if "Schedule 1" in m.text]
    assert (
        "Schedule 1 (daily 10:00) could not start a run of `standup`: `standup` needs who" in told
    )
    assert "removed" not in told
    assert (await schedule_times(stack))[1:] == (TEN_BERLIN, True)
    await stack.command("schedules", user="U0ALICE")
    assert "`1` `standup` · daily 10:00" in stack.ephemeral("U0ALICE")
