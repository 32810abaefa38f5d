"""Slack's per-method tiers over real HTTP, with time moved by hand: once the minute's
chat.update budget is spent, the redraws left wait for the next minute and nothing else
does. Baton's limits keep time on a ManualTimer, so the test spends a real budget without
waiting for it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlmodel import select

from bot.app import create_app
from bot.clock import ManualClock
from bot.outbox import Note, enqueue
from bot.server import start_server
from bot.slack_emulator import SlackDriver, SlackEmulator
from bot.slack_limits import PER_MINUTE
from bot.timers import ManualTimer
from storage.db import unit_of_work
from storage.models import Run
from tests.stack import SIGNING_SECRET, START, Stack, make_settings
from tests.test_delivery_flow_e2e import CHAIN, card, click, dm_for


@asynccontextmanager
async def tiered_stack(database_url: str) -> AsyncIterator[tuple[Stack, ManualTimer]]:
    """The stack with Slack's method tiers kept, on a timer of its own (the business clock
    stays where it is)."""
    async with SlackEmulator.default() as emulator:
        clock = ManualClock(START)
        timer = ManualTimer(ManualClock(START))
        baton = create_app(
            make_settings(emulator, database_url), clock=clock, channel_interval=0.0, timer=timer
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
        first = dm_for(stack, "alice", "First thing")
        budget = PER_MINUTE["chat.update"]
        updates = stack.emulator.calls_to("chat.update")
        # A burst of redraws, ten more than the minute allows (each its own conversation,
        # so all of them are due at once).
        burst = budget - len(updates) + 10
        async with unit_of_work(stack.baton.runtime.sessions) as session:
            run = (await session.exec(select(Run))).one()
            for n in range(burst):
                enqueue(
                    session,
                    stack.clock,
                    team_id=run.team_id,
                    kind=Note.REDRAW,
                    conversation=f"burst:{n}",
                    payload={
                        "channel_id": run.channel_id,
                        "ts": run.card_ts,
                        "text": f"Redraw {n}",
                        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x"}}],
                    },
                )
        stack.baton.runtime.outbox_signal.set()
        await stack.emulator.wait_for(lambda: len(stack.emulator.calls_to("chat.update")) == budget)

        # Alice's Done makes Bob's step ready: his DM goes now, the redraws still wait.
        await click(stack, first, "U0ALICE", "Done")
        await stack.emulator.wait_for_call(
            "chat.postMessage", lambda call: call.params.get("channel") == "U0BOB"
        )
        assert "Second thing" in dm_for(stack, "bob", "Second thing").text
        assert len(stack.emulator.calls_to("chat.update")) == budget
        assert timer.sleepers >= 1  # the redraws left are waiting for the next minute

        # The next minute: the rest of the burst, then the card and Alice's DM redrawn.
        await timer.advance(60)
        await stack.settle()
        later = stack.emulator.calls_to("chat.update")[budget:]
        assert len([c for c in later if str(c.params.get("text")).startswith("Redraw ")]) == 10
        assert any("1/2 done" in str(c.params.get("text")) for c in later)
        assert card(stack).ts == run.card_ts
        assert len([m for m in stack.emulator.dm("bob") if "Second thing" in m.text]) == 1
