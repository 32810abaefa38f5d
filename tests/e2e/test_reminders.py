"""Reminders, escalation, working hours, snooze, away and wait steps, moving the clock.

The stack's clock starts on Monday 2026-11-23 08:00 UTC: 09:00 for Alice (Berlin), 03:00 for
Bob (New York), 17:00 for Carol (Tokyo), 08:00 for Dave (London).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlmodel import col, select

from bench.digest import seed
from bot.app.composition import Baton, create_app
from bot.slack.ids import ActionId, TimerRef
from storage.db import session_factory, unit_of_work
from storage.models import StepRun, Timer
from storage.vocabulary import TimerKind
from tests.stack import Stack, make_settings, utc
from tests.workflows import start_review


async def test_due_soon_overdue_repeats_and_escalation(stack: Stack) -> None:
    await start_review(stack)  # due at 12:00 UTC (13:00 for Alice)
    await stack.walk(utc(23, 11))
    assert stack.reminders_for("U0ALICE") == []

    # 80% of the 4h window: 11:12 UTC.
    await stack.sweep_at(utc(23, 11, 12))
    [soon] = stack.reminders_for("U0ALICE")
    assert "Due soon: `read` Read it" in soon.render()
    assert [ref.element["text"]["text"] for ref in soon.buttons] == [
        "Snooze 1h",
        "Snooze until tomorrow",
    ]

    await stack.sweep_at(utc(23, 12))
    assert "Overdue: `read`" in stack.reminders_for("U0ALICE")[-1].render()
    assert len(stack.reminders_for("U0ALICE")) == 2

    # Nothing more that day; one working day after the due time Alice is reminded again and
    # Dave, who owns the run, gets the escalation.
    await stack.walk(utc(24, 11))
    assert len(stack.reminders_for("U0ALICE")) == 2
    assert stack.reminders_for("U0DAVE") == []
    await stack.sweep_at(utc(24, 12))
    assert len(stack.reminders_for("U0ALICE")) == 3
    [escalation] = stack.reminders_for("U0DAVE")
    assert "Overdue for a working day: `read` Read it in your run `review-1`" in escalation.render()
    assert "<@U0ALICE>" in escalation.render()

    # At most one more each working day, three at most; then silence.
    await stack.walk(utc(30, 12))
    alice = stack.reminders_for("U0ALICE")
    assert len(alice) == 5
    assert len(stack.reminders_for("U0DAVE")) == 1
    assert all("Overdue: `read`" in m.render() for m in alice[1:])


async def test_reminder_at_two_in_the_night_waits_for_nine_local(stack: Stack) -> None:
    # Carol is in Tokyo: due 9h from 08:00 UTC is 17:00 UTC, 02:00 on Tuesday for her.
    definition = "define review Review a doc\nread: Read it <@U0CAROL|carol> due 9h"
    await start_review(stack, definition)
    await stack.walk(utc(23, 17))
    await stack.walk(utc(23, 23, 59), timedelta(minutes=30))
    assert stack.reminders_for("U0CAROL") == []

    # 09:00 in Tokyo: one message. "Due soon" (01:12 her time) says nothing new by now.
    await stack.sweep_at(utc(24, 0))
    [late] = stack.reminders_for("U0CAROL")
    assert "Overdue: `read`" in late.render()
    assert "Due soon" not in late.render()


async def test_several_due_for_one_person_arrive_as_one_message(stack: Stack) -> None:
    definition = (
        "define review Review docs\n"
        "one: Read part one <@U0ALICE|alice> due 4h\n"
        "two: Read part two <@U0ALICE|alice> due 4h\n"
        "three: Read part three <@U0BOB|bob> due 4h"
    )
    await start_review(stack, definition)
    await stack.sweep_at(utc(23, 11, 12))
    [both] = stack.reminders_for("U0ALICE")
    text = both.render()
    assert "2 reminders" in text and "`one`" in text and "`two`" in text
    assert "`three`" not in text
    # Bob is asleep in New York (06:12): his waits for 09:00 there.
    assert stack.reminders_for("U0BOB") == []
    await stack.sweep_at(utc(23, 14))
    [bob] = stack.reminders_for("U0BOB")
    assert "Overdue: `three`" in bob.render()


async def test_snooze_an_hour_and_until_tomorrow(stack: Stack) -> None:
    await start_review(stack)
    await stack.sweep_at(utc(23, 11, 12))
    [first] = stack.reminders_for("U0ALICE")
    stale = first.snapshot()

    await stack.driver.click(first, user="U0ALICE", action_id=ActionId.SNOOZE_HOUR)
    await stack.settle()
    snoozed = stack.emulator.message(first.channel, first.ts)
    assert snoozed is not None and snoozed.buttons == []
    assert "Snoozed until" in snoozed.render() and "`read` in `review-1`" in snoozed.render()

    # A second click on the message as it was changes nothing.
    await stack.driver.click(stale, user="U0ALICE", action_id=ActionId.SNOOZE_HOUR)
    await stack.settle()
    assert "Nothing to snooze" in stack.ephemeral("U0ALICE")

    # The snooze holds every reminder of the step, the overdue one (12:00) too, until 12:12;
    # then one message comes, and the snoozed "due soon" is superseded by the overdue.
    await stack.walk(utc(23, 12, 11), timedelta(minutes=10))
    assert len(stack.reminders_for("U0ALICE")) == 1
    await stack.sweep_at(utc(23, 12, 12))
    assert len(stack.reminders_for("U0ALICE")) == 2
    overdue = stack.reminders_for("U0ALICE")[-1]
    assert "Overdue" in overdue.render() and "Due soon" not in overdue.render()

    await stack.driver.click(overdue, user="U0ALICE", action_id=ActionId.SNOOZE_TOMORROW)
    await stack.settle()
    await stack.walk(utc(24, 7, 59))
    assert len(stack.reminders_for("U0ALICE")) == 2
    # 09:00 Tuesday in Berlin: the snoozed one, and nothing else then.
    await stack.sweep_at(utc(24, 8))
    assert len(stack.reminders_for("U0ALICE")) == 3
    assert "Overdue: `read`" in stack.reminders_for("U0ALICE")[-1].render()
    # The day's repeat (one working day after the due time) is the next, not an hour later.
    await stack.walk(utc(24, 11, 59))
    assert len(stack.reminders_for("U0ALICE")) == 3


async def test_snooze_buttons_belong_to_their_recipient(stack: Stack) -> None:
    await start_review(stack)
    await stack.sweep_at(utc(23, 11, 12))
    [alice] = stack.reminders_for("U0ALICE")
    await stack.driver.click(alice, user="U0BOB", action_id=ActionId.SNOOZE_HOUR)
    await stack.settle()
    assert "Nothing to snooze" in stack.ephemeral("U0BOB")
    again = stack.emulator.message(alice.channel, alice.ts)
    assert again is not None and again.buttons != []


async def test_finished_steps_are_not_reminded(stack: Stack) -> None:
    await start_review(stack)
    await stack.sweep_at(utc(23, 11, 12))
    assert len(stack.reminders_for("U0ALICE")) == 1
    await stack.command("done review-1 read", user="U0ALICE")
    await stack.walk(utc(26, 12))
    assert len(stack.reminders_for("U0ALICE")) == 1
    assert stack.reminders_for("U0DAVE") == []


async def test_hours_move_reminders_into_my_day(stack: Stack) -> None:
    await stack.command("hours 14:00-20:00 mon-thu", user="U0ALICE")
    assert "Your working hours are now 14:00-20:00 Mon-Thu (Europe/Berlin)" in stack.ephemeral(
        "U0ALICE"
    )
    await stack.command("hours", user="U0ALICE")
    assert "14:00-20:00 Mon-Thu (Europe/Berlin)" in stack.ephemeral("U0ALICE")
    await stack.command("hours 9-5", user="U0ALICE")
    assert "`9` is not a time" in stack.ephemeral("U0ALICE")
    assert "/baton hours &lt;HH:MM-HH:MM&gt; [days]" in stack.ephemeral("U0ALICE")

    await start_review(stack)
    await stack.walk(utc(23, 12, 59), timedelta(minutes=30))
    assert stack.reminders_for("U0ALICE") == []
    # 14:00 in Berlin: due soon (11:12) and overdue (12:00), one message, the overdue shown.
    await stack.sweep_at(utc(23, 13))
    [both] = stack.reminders_for("U0ALICE")
    assert "Overdue: `read`" in both.render()


async def test_away_with_a_delegate(stack: Stack) -> None:
    await stack.command("away 2026-11-25 delegate <@U0BOB|bob>", user="U0ALICE")
    reply = stack.ephemeral("U0ALICE")
    assert "You're away through Wednesday 25 November 2026 (Europe/Berlin)" in reply
    assert "go to <@U0BOB>" in reply

    await start_review(stack)
    # The step went to Bob, and the run's thread says why.
    assert "Read it" in stack.emulator.dm("U0BOB")[-1].text
    assert not any("Read it" in m.text for m in stack.emulator.dm("U0ALICE"))
    card = [m for m in stack.emulator.messages("C0GENERAL") if not m.is_reply][-1]
    assert "<@U0BOB>" in card.render()
    thread = [m.text for m in stack.emulator.thread("C0GENERAL", card.ts)]
    assert any("<@U0ALICE> is away, so `read` goes to <@U0BOB>" in t for t in thread)

    # Reminders follow the step to Bob, inside Bob's hours (09:00 New York is 14:00 UTC).
    await stack.walk(utc(23, 14))
    assert stack.reminders_for("U0ALICE") == []
    [bob] = stack.reminders_for("U0BOB")
    assert "Overdue: `read`" in bob.render()

    await stack.command("away", user="U0ALICE")
    assert "new steps go to <@U0BOB>" in stack.ephemeral("U0ALICE")
    await stack.command("away off", user="U0ALICE")
    assert "Welcome back" in stack.ephemeral("U0ALICE")
    await stack.command("away off", user="U0ALICE")
    assert "You weren't away" in stack.ephemeral("U0ALICE")


async def test_away_without_a_delegate_pauses_reminders_and_sends_steps_to_the_owner(
    stack: Stack,
) -> None:
    await start_review(stack)  # Alice has `read`, due 12:00 UTC
    await stack.command("away tomorrow", user="U0ALICE")
    assert "You're away through Tuesday 24 November 2026" in stack.ephemeral("U0ALICE")
    assert "go to each run's owner" in stack.ephemeral("U0ALICE")

    # Her reminders pause while she is away...
    await stack.walk(utc(24, 23))
    assert stack.reminders_for("U0ALICE") == []
    # ...and resume when she is back at work, on Wednesday 09:00 in Berlin, as one message.
    await stack.walk(utc(25, 8))
    [back] = stack.reminders_for("U0ALICE")
    assert "Overdue: `read`" in back.render()
    # The escalation to Dave was not paused: he is not away.
    assert len(stack.reminders_for("U0DAVE")) == 1

    # A step that becomes ready for an away person goes to the run's owner.
    await stack.command("away 2026-11-27", user="U0ALICE")
    await stack.command(
        "define relay Relay\nfirst: First <@U0DAVE|dave>\n"
        "second: Second <@U0ALICE|alice> after first",
        user="U0CAROL",
    )
    await stack.command("run relay", user="U0CAROL")
    await stack.command("done relay-1 first", user="U0DAVE")
    assert "Second" in stack.emulator.dm("U0CAROL")[-1].text
    card = [m for m in stack.emulator.messages("C0GENERAL") if not m.is_reply][-1]
    thread = [m.text for m in stack.emulator.thread("C0GENERAL", card.ts)]
    assert any("<@U0ALICE> is away, so `second` goes to <@U0CAROL>" in t for t in thread)


async def test_away_mistakes_are_explained(stack: Stack) -> None:
    await stack.command("away someday", user="U0ALICE")
    assert "`someday` is not a time" in stack.ephemeral("U0ALICE")
    await stack.command("away friday delegate bob", user="U0ALICE")
    assert "Name your delegate as `delegate @someone`" in stack.ephemeral("U0ALICE")
    await stack.command("away friday delegate <@U0ALICE|alice>", user="U0ALICE")
    assert "must be someone else" in stack.ephemeral("U0ALICE")
    await stack.command("away", user="U0ALICE")
    assert "You're not away" in stack.ephemeral("U0ALICE")


async def test_wait_step_completes_when_its_time_is_up(stack: Stack) -> None:
    definition = (
        "define review Review later\n"
        "settle: Let it settle wait 2h\n"
        "read: Read it <@U0ALICE|alice> after settle"
    )
    await start_review(stack, definition)
    await stack.sweep_at(utc(23, 9, 59))
    assert not any("Read it" in m.text for m in stack.emulator.dm("U0ALICE"))
    await stack.sweep_at(utc(23, 10))
    assert "Read it" in stack.emulator.dm("U0ALICE")[-1].text
    sessions = session_factory(stack.baton.runtime.engine)
    async with unit_of_work(sessions) as session:
        steps = {s.step_key: s.state for s in (await session.exec(select(StepRun))).all()}
    assert steps == {"settle": "done", "read": "ready"}
    await stack.sweep_at(utc(23, 11))
    assert len([m for m in stack.emulator.dm("U0ALICE") if "Read it" in m.text]) == 1


async def test_restart_after_downtime_catches_up_once(stack: Stack, database_url: str) -> None:
    await start_review(stack)
    await stack.sweep_at(utc(23, 9))
    await stack.server.stop()  # Baton goes down on Monday before any reminder was due...
    stack.clock.set(utc(26, 10))  # ...and comes back on Thursday morning.

    settings = make_settings(stack.emulator, database_url)
    restarted = create_app(settings, clock=stack.clock, channel_interval=0.0)
    await restarted.start()  # catches up at once, before the first tick
    try:
        for _ in range(200):  # real time: the scheduler's first run is a real-time job
            if _sweeps(restarted) >= 1:
                break
            await asyncio.sleep(0.02)
        await restarted.sweeper.wait_idle()
        for _ in range(3):  # the next ticks find nothing more to do
            await restarted.sweeper.sweep()
        await _drain(restarted)
        alice, dave = stack.reminders_for("U0ALICE"), stack.reminders_for("U0DAVE")
        # One overdue reminder (the missed "due soon" and repeats are not replayed), and the
        # escalation, once.
        assert len(alice) == 1 and "Overdue: `read`" in alice[0].render()
        assert len(dave) == 1 and "Overdue for a working day" in dave[0].render()

        # The third repeat is still ahead: Thursday 12:00 UTC.
        stack.clock.set(utc(26, 12))
        await restarted.sweeper.sweep()
        await _drain(restarted)
        assert len(stack.reminders_for("U0ALICE")) == 2
    finally:
        await restarted.stop()


def _sweeps(baton: Baton) -> float:
    return sum(
        sample.value
        for metric in baton.runtime.metrics.sweeps.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
    )


async def _drain(baton: Baton) -> None:
    for _ in range(200):
        await baton.deliverer.deliver_due()
        if await baton.deliverer.pending() == 0 and baton.deliverer.idle:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("notifications still pending")


async def test_reminder_timers_fire_once_each(stack: Stack) -> None:
    await start_review(stack)
    await stack.sweep_at(utc(23, 11, 12))
    await stack.walk(utc(30, 12))
    sessions = session_factory(stack.baton.runtime.engine)
    async with unit_of_work(sessions) as session:
        fired = (
            await session.exec(
                select(Timer).where(Timer.state == "fired", col(Timer.recipient_id).is_not(None))
            )
        ).all()
    sent = [
        timer_id
        for user in ("U0ALICE", "U0DAVE")
        for message in stack.reminders_for(user)
        for timer_id in TimerRef.decode(message.buttons[0].element["value"]).timers
    ]
    # Alice: due soon, overdue, three repeats; Dave: the escalation. Each timer in one message.
    assert len(sent) == 6
    assert sorted(sent) == sorted(t.id or 0 for t in fired)


async def test_a_thousand_reminders_arrive_as_one_short_message(stack: Stack) -> None:
    # 1,000 runs whose `accounts` step (Carol's; 17:00 in Tokyo) is open; all overdue at once.
    await seed(stack.baton.runtime.engine, active=1000, completed=0, now=stack.clock.now())
    now = stack.clock.now()
    async with unit_of_work(session_factory(stack.baton.runtime.engine)) as session:
        steps = (await session.exec(select(StepRun).where(StepRun.step_key == "accounts"))).all()
        for step in steps:
            session.add(
                Timer(
                    team_id=step.team_id,
                    kind=TimerKind.OVERDUE,
                    run_id=step.run_id,
                    step_run_id=step.id,
                    due_at=now,
                    created_at=now,
                )
            )
    await stack.sweep_at(now)

    [message] = stack.reminders_for("U0CAROL")  # one message, not one per sweep batch
    text = message.render()
    assert "*1000 reminders*" in text
    assert text.count("⏰ Overdue: `accounts`") == 25
    assert "…and 975 more: `/baton mine` and your App Home show your open steps" in text
    assert sum(len(b["text"]["text"]) for b in message.blocks if b["type"] == "section") < 6000
