"""Slack's per-method tiers over real HTTP, with time moved by hand: once the minute's
chat.update budget is spent, the redraws left wait in the outbox for the next minute and
nothing else does. Baton's limits keep time on a ManualTimer, so the test spends a real
budget without waiting for it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlmodel import col, select

from bot.app.composition import create_app
from bot.app.server import start_server
from bot.core.clock import ManualClock
from bot.notify.payloads import Direct, Redraw
from bot.slack.limits import PER_MINUTE
from bot.slack.timers import ManualTimer
from bot.slack_emulator import SlackDriver, SlackEmulator
from bot.work import Work
from storage.db import unit_of_work
from storage.models import Outbox, Run
from tests.stack import SIGNING_SECRET, START, Stack, make_settings
from tests.workflows import CHAIN

QUEUED = 200


@asynccontextmanager
async def tiered_stack(
    database_url: str, *, channel_interval: float = 0.0
) -> AsyncIterator[tuple[Stack, ManualTimer]]:
    """The stack with Slack's method tiers kept (and, given an interval, its pace per channel),
    on a timer of its own (the business clock stays where it is)."""
    async with SlackEmulator.default() as emulator:
        clock = ManualClock(START)
        seconds = ManualClock(START)  # real seconds, moved by hand: pacing, leases, retries
        timer = ManualTimer(seconds)
        baton = create_app(
            make_settings(emulator, database_url),
            clock=clock,
            channel_interval=channel_interval,
            timer=timer,
            wall=seconds,
        )
        server = await start_server(baton.web)
        driver = SlackDriver(f"http://127.0.0.1:{server.port}", SIGNING_SECRET, emulator)
        try:
            yield Stack(emulator, baton, server, driver, clock), timer
        finally:
            await driver.aclose()
            await server.stop()


async def test_a_step_dm_goes_while_the_minutes_chat_update_budget_is_spent(
    database_url: str,
) -> None:
    async with tiered_stack(database_url) as (stack, timer):
        await stack.command(CHAIN, user="U0ALICE")
        await stack.command("run chain", user="U0ALICE")
        first = stack.dm_for("alice", "First thing")
        budget = PER_MINUTE["chat.update"]
        updates = stack.emulator.calls_to("chat.update")
        # A burst of redraws, ten more than the minute allows (each its own conversation,
        # so all of them are due at once).
        burst = budget - len(updates) + 10
        async with unit_of_work(stack.baton.runtime.sessions) as session:
            run = (await session.exec(select(Run))).one()
            assert run.card_ts is not None
            for n in range(burst):
                Work(session, stack.clock.now()).tell(
                    team_id=run.team_id,
                    conversation=f"burst:{n}",
                    note=Redraw(
                        channel_id=run.channel_id,
                        ts=run.card_ts,
                        text=f"Redraw {n}",
                        blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "x"}}],
                    ),
                )
        stack.baton.runtime.outbox_signal.set()
        await stack.emulator.wait_for(lambda: len(stack.emulator.calls_to("chat.update")) == budget)
        # The redraws left wait in the outbox for the next minute, holding no batch open (a
        # crowd's redraws would otherwise fill every batch the deliverer may run at once).
        async with asyncio.timeout(5):
            await stack.baton.deliverer.wait_idle()
        async with unit_of_work(stack.baton.runtime.sessions) as session:
            query = select(Outbox).where(col(Outbox.last_error) == "chat.update paced")
            assert len((await session.exec(query)).all()) == 10

        # Alice's Done makes Bob's step ready: his DM goes now, the redraws still wait.
        await stack.click(first, "U0ALICE", "Done", deliver=False)
        await stack.emulator.wait_for_call(
            "chat.postMessage", lambda call: call.params.get("channel") == "U0BOB"
        )
        assert "Second thing" in stack.dm_for("bob", "Second thing").text
        assert len(stack.emulator.calls_to("chat.update")) == budget

        # The next minute: the rest of the burst, then the card and Alice's DM redrawn.
        await timer.advance(60)
        await stack.settle()
        later = stack.emulator.calls_to("chat.update")[budget:]
        assert len([c for c in later if str(c.params.get("text")).startswith("Redraw ")]) == 10
        assert any("1/2 done" in str(c.params.get("text")) for c in later)
        assert stack.card().ts == run.card_ts
        assert len([m for m in stack.emulator.dm("bob") if "Second thing" in m.text]) == 1


async def test_the_app_home_is_published_while_200_paced_dms_for_that_person_wait(
    database_url: str,
) -> None:
    # Posts into a channel (a DM too) go a second apart, on the test's timer.
    async with tiered_stack(database_url, channel_interval=1.0) as (stack, timer):
        await stack.command(CHAIN, user="U0ALICE")
        await stack.command("run chain", user="U0ALICE")
        async with unit_of_work(stack.baton.runtime.sessions) as session:
            run = (await session.exec(select(Run))).one()
            for n in range(QUEUED):
                Work(session, stack.clock.now()).tell(
                    team_id=run.team_id,
                    conversation="U0ALICE",
                    note=Direct(user_id="U0ALICE", text=f"Notice {n}"),
                )
        stack.baton.runtime.outbox_signal.set()
        # Alice's step DM has just taken her channel's slot: the first notice waits for the
        # next one, the other 199 queue behind it.
        async with asyncio.timeout(5):
            await timer.sleeping()

        response = await stack.driver.app_home_opened("alice")
        assert response.status_code == 200
        published = await stack.emulator.wait_for_call("views.publish")
        assert published.params.get("user_id") == "U0ALICE"
        assert "First thing" in str(published.params.get("view"))
        assert notices(stack) == []  # no time has passed

        # Time moves on only while a post waits for its slot: the rest follow in order.
        while len(notices(stack)) < QUEUED:
            await next_slot(stack, timer)
        await stack.settle()
        assert notices(stack) == [f"Notice {n}" for n in range(QUEUED)]


def notices(stack: Stack) -> list[str]:
    return [m.text for m in stack.emulator.dm("alice") if m.text.startswith("Notice ")]


async def next_slot(stack: Stack, timer: ManualTimer) -> None:
    """Move the timer past the slot someone waits for, or see the last notice arrive."""
    waiting = asyncio.create_task(timer.sleeping())
    last = asyncio.create_task(stack.emulator.wait_for(lambda: len(notices(stack)) == QUEUED))
    done, pending = await asyncio.wait({waiting, last}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    if waiting in done:
        await timer.advance(1.7)  # a slot (1.1 s) and the window held for a claim (0.5 s)
    else:
        last.result()
