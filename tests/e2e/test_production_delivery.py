"""Delivery that survives Slack: 429s and 500s, messages refused for good, a replica that dies
with a message in flight; and what operators see (metrics, structured logs)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import update
from sqlmodel import col, select

from bot.app.composition import create_app
from bot.app.server import start_server
from bot.app.settle import settle
from bot.core.clock import ManualClock
from bot.logs import ContextFilter, JsonFormatter, log_context
from bot.notify.deliverer import Deliverer
from bot.slack_emulator import SlackDriver, SlackEmulator
from storage.db import session_factory, unit_of_work
from storage.models import Outbox, Run
from tests.messages import delivery_marks
from tests.stack import SIGNING_SECRET, START, Stack, make_settings

TRIO = """define trio Three things at once
one: First thing <@U0ALICE|alice>
two: Second thing <@U0BOB|bob>
three: Third thing <@U0CAROL|carol>"""
PEOPLE = ("U0ALICE", "U0BOB", "U0CAROL")


@pytest.fixture
async def paced(database_url: str) -> AsyncIterator[Stack]:
    """The stack with Slack's pacing on: Baton keeps to about a message a second per channel,
    and the emulator answers 429 to any post that comes sooner."""
    async with SlackEmulator.default() as emulator:
        emulator.enforce_pacing(1.0)
        baton = create_app(make_settings(emulator, database_url), clock=ManualClock(START))
        server = await start_server(baton.web)
        driver = SlackDriver(f"http://127.0.0.1:{server.port}", SIGNING_SECRET, emulator)
        try:
            yield Stack(emulator, baton, server, driver, baton.runtime.clock)  # type: ignore[arg-type]
        finally:
            await driver.aclose()
            await server.stop()


async def settle_for(stack: Stack, seconds: float) -> None:
    async with asyncio.timeout(seconds):
        await settle(stack.baton.runtime, stack.baton.deliverer)


async def send(stack: Stack, text: str, user: str, channel: str = "C0GENERAL") -> None:
    response = await stack.driver.command(text, user=user, channel=channel)
    assert response.status_code == 200, response.text


async def outbox(stack: Stack) -> list[Outbox]:
    async with unit_of_work(session_factory(stack.baton.runtime.engine)) as session:
        return list((await session.exec(select(Outbox).order_by(col(Outbox.id)))).all())


async def test_429s_and_500s_end_with_everything_delivered_once_and_paced(
    paced: Stack,
) -> None:
    emulator = paced.emulator
    await send(paced, TRIO, "U0ALICE")
    await settle_for(paced, 30)
    emulator.fail("chat.postMessage", status=429, retry_after=2, times=2)
    emulator.fail("chat.postMessage", status=500, times=2)
    emulator.fail("chat.update", status=429, retry_after=1, times=1)
    emulator.fail("chat.update", status=503, times=1)
    for channel in ("C0GENERAL", "C0GENERAL", "C0OPS"):
        await send(paced, "run trio", "U0DAVE", channel)
    await settle_for(paced, 60)
    await send(paced, "done trio-1 one", "U0ALICE")
    await send(paced, "done trio-3 two", "U0BOB", "C0OPS")
    await settle_for(paced, 60)

    # Every notification went out, and each message of it exactly once.
    rows = await outbox(paced)
    assert {row.state for row in rows} == {"sent"}
    marks = delivery_marks(emulator.calls)
    assert len(marks) == len(set(marks)) == sum(len(row.posted) for row in rows)
    assert len(emulator.messages("C0GENERAL")) == 2
    assert len(emulator.messages("C0OPS")) == 1
    for person in PEOPLE:
        assert len(emulator.dm(person)) == 3

    # The only 429s are the ones injected: Baton itself never posted too fast...
    limited = [(i, call) for i, call in enumerate(emulator.calls) if call.status == 429]
    assert [call.method for _, call in limited] == ["chat.postMessage"] * 2 + ["chat.update"]
    assert emulator.pacing_violations(1.0) == []
    # ...and waited out each Retry-After: nothing more into that channel, and that message
    # not updated again, before it had passed.
    for index, limited_call in limited:
        wait = 2.0 if limited_call.method == "chat.postMessage" else 1.0
        same = ("channel",) if limited_call.method == "chat.postMessage" else ("channel", "ts")
        later = [
            call
            for call in emulator.calls[index + 1 :]
            if call.method == limited_call.method
            and all(call.params.get(key) == limited_call.params.get(key) for key in same)
        ]
        assert later, f"{limited_call.method} was never tried again"
        assert later[0].monotonic - limited_call.monotonic >= wait - 0.01


async def test_a_message_slack_refuses_is_dead_and_its_owner_told(stack: Stack) -> None:
    stack.emulator.fail(
        "chat.postMessage", error="channel_not_found", times=None, match={"channel": "C0OPS"}
    )
    await stack.command(TRIO, user="U0ALICE")
    await stack.command("run trio", user="U0DAVE", channel="C0OPS")

    cards = [row for row in await outbox(stack) if row.kind == "run_card"]
    assert cards[0].state == "dead"
    assert cards[0].last_error == "channel_not_found"
    told = [m.text for m in stack.emulator.dm("U0DAVE")]
    assert any("could not deliver" in text and "channel_not_found" in text for text in told)
    # The rest of the run's notifications are not held up by it.
    for person in PEOPLE:
        assert len(stack.emulator.dm(person)) == 1


async def test_a_replica_dying_mid_post_is_taken_over_without_a_double(stack: Stack) -> None:
    """Replica A's post reaches Slack, but A dies before it hears back; once A's lease runs out,
    replica B finds the message in the channel's history instead of posting it again."""
    emulator = stack.emulator
    stack.baton.deliverer.stop()  # replicas A and B below do the delivering
    runtime = stack.baton.runtime
    replica_a = Deliverer(replace(runtime, worker_id="replica-a"), channel_interval=0.0)
    replica_b = Deliverer(replace(runtime, worker_id="replica-b"), channel_interval=0.0)
    await send(stack, TRIO, "U0ALICE")
    await runtime.listeners.wait_idle()  # defined before it is run (listeners work after acks)
    await send(stack, "run trio", "U0DAVE")
    await runtime.listeners.wait_idle()

    # Slack is slow to answer: all four posts (the card and three DMs) reach it, then A dies.
    slow = emulator.hold("chat.postMessage")
    dying = asyncio.create_task(replica_a.deliver_due())
    await emulator.wait_for(lambda: slow.waiting == 4)
    dying.cancel()
    with pytest.raises(asyncio.CancelledError):
        await dying
    # Slack carries the posts out all the same.
    slow.release()
    await emulator.wait_for(lambda: len(delivery_marks(emulator.calls)) == 4)
    held = [row for row in await outbox(stack) if row.state == "pending"]
    assert held and {row.claimed_by for row in held} == {"replica-a"}

    async with unit_of_work(session_factory(runtime.engine)) as session:
        await session.exec(  # A's lease runs out
            update(Outbox)
            .where(col(Outbox.claimed_by) == "replica-a")
            .values(claimed_until=datetime(2000, 1, 1, tzinfo=UTC))
        )
    while await replica_b.pending():
        await replica_b.deliver_due()

    marks = delivery_marks(emulator.calls)
    assert len(marks) == len(set(marks)) == 4  # the card and three DMs, once each
    (card,) = emulator.messages("C0GENERAL")
    async with unit_of_work(session_factory(runtime.engine)) as session:
        run = (await session.exec(select(Run))).one()
    assert run.card_ts == card.ts  # B recorded A's card and goes on updating it
    for person in PEOPLE:
        assert len(emulator.dm(person)) == 1
    assert {row.state for row in await outbox(stack)} == {"sent"}
    assert any(call.method == "conversations.history" for call in emulator.calls)


async def test_metrics_show_requests_acks_outbox_and_deliveries(stack: Stack) -> None:
    stack.emulator.fail("chat.postMessage", status=500, times=1)
    await stack.command(TRIO, user="U0ALICE")
    await stack.command("run trio", user="U0DAVE")
    await stack.baton.sweeper.sweep()
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{stack.url}/metrics")).text
        health = (await client.get(f"{stack.url}/healthz")).json()
    values = _samples(text)
    assert values['baton_slack_requests_total{kind="command"}'] == 2
    assert values["baton_ack_seconds_count"] >= 2
    assert values["baton_outbox_depth"] == 0
    assert values["baton_outbox_oldest_seconds"] == 0
    assert values['baton_deliveries_total{outcome="sent"}'] >= 4
    assert values['baton_delivery_retries_total{reason="server_error"}'] == 1
    assert values["baton_sweeps_total"] >= 1
    assert health["worker"] == stack.baton.runtime.worker_id


def _samples(exposition: str) -> Counter[str]:
    values: Counter[str] = Counter()
    for line in exposition.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)  # type: ignore[assignment]
    return values


def test_log_lines_are_json_with_the_run_and_step_they_are_about() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("baton.test-logs")
    logger.addHandler(handler)
    try:
        with log_context(team="T0BATON", run=7), log_context(step=21, missing=None):
            logger.warning("step %s is late", "docs", extra={"attempt": 2})
        logger.warning("outside")
    finally:
        logger.removeHandler(handler)
    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert inside["message"] == "step docs is late"
    assert inside["level"] == "warning"
    assert (inside["team"], inside["run"], inside["step"], inside["attempt"]) == (
        "T0BATON",
        7,
        21,
        2,
    )
    assert "missing" not in inside
    assert "run" not in outside
