"""Receipts of Slack requests and events are pruned by the sweep once Slack's replay window has
passed: old finished ones go, recent or unfinished ones stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import col, select

from bot.core.clock import ManualClock
from bot.slack.receipts import KEEP
from storage.db import unit_of_work
from storage.models import SlackEvent, SlackRequest
from tests.stack import Stack


async def receipts(stack: Stack) -> tuple[set[str], set[str]]:
    async with unit_of_work(stack.baton.runtime.sessions) as session:
        requests = (await session.exec(select(SlackRequest.trigger_id))).all()
        events = (await session.exec(select(SlackEvent.event_id))).all()
    return set(requests), set(events)


async def test_old_finished_receipts_go_and_recent_or_unfinished_ones_stay(stack: Stack) -> None:
    wall = ManualClock(datetime.now(UTC))
    stack.baton.runtime.wall = wall  # request receipts are stamped with wall time

    await stack.command("help", user="U0ALICE")
    await stack.driver.app_home_opened("U0ALICE")
    await stack.settle()
    old_requests, old_events = await receipts(stack)
    assert len(old_requests) == 1 and len(old_events) == 1
    # A request whose process died before its listener finished: the sweep still owes it a run.
    async with unit_of_work(stack.baton.runtime.sessions) as session:
        session.add(
            SlackRequest(
                team_id="T0BATON",
                trigger_id="unfinished.1",
                body="",
                content_type="application/x-www-form-urlencoded",
                received_at=wall.now(),
                done_at=None,
                claimed_by="another-replica",
                claimed_until=wall.now() + timedelta(days=1),
            )
        )

    for clock in (wall, stack.clock):
        clock.advance(KEEP - timedelta(minutes=5))
    await stack.command("help", user="U0BOB")
    await stack.driver.app_home_opened("U0BOB")
    await stack.settle()
    requests, events = await receipts(stack)
    recent_requests = requests - old_requests - {"unfinished.1"}
    recent_events = events - old_events
    assert len(recent_requests) == 1 and len(recent_events) == 1

    for clock in (wall, stack.clock):
        clock.advance(timedelta(minutes=6))
    await stack.baton.sweeper.sweep()

    assert await receipts(stack) == (recent_requests | {"unfinished.1"}, recent_events)
    # A second replica sweeping the same rows finds nothing left to do, and fails nothing.
    await stack.baton.sweeper.sweep()
    assert await receipts(stack) == (recent_requests | {"unfinished.1"}, recent_events)


async def test_pruning_works_in_bounded_batches(stack: Stack) -> None:
    wall = ManualClock(datetime.now(UTC))
    stack.baton.runtime.wall = wall
    many = 1_234
    async with unit_of_work(stack.baton.runtime.sessions) as session:
        for n in range(many):
            session.add(
                SlackEvent(event_id=f"Ev{n}", team_id="T0BATON", received_at=stack.clock.now())
            )
            session.add(
                SlackRequest(
                    team_id="T0BATON",
                    trigger_id=f"done.{n}",
                    body="",
                    content_type="application/json",
                    received_at=wall.now(),
                    done_at=wall.now(),
                    claimed_by="gone",
                    claimed_until=wall.now(),
                )
            )
    for clock in (wall, stack.clock):
        clock.advance(KEEP + timedelta(minutes=1))
    await stack.baton.sweeper.sweep()
    async with unit_of_work(stack.baton.runtime.sessions) as session:
        left = (await session.exec(select(col(SlackRequest.trigger_id)))).all()
        events = (await session.exec(select(col(SlackEvent.event_id)))).all()
    assert (left, events) == ([], [])
