"""A claimed batch is delivered at once: its bookkeeping does not grow with it, two replicas
racing over it still post each message once and keep Slack's pacing, and a batch whose claim
was taken over writes none of its outcomes (the new holder recovers them)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, update
from sqlmodel import col, select

from bot.app.composition import Baton, create_app
from bot.core.clock import ManualClock
from bot.language import Assignee, StepDef, WorkflowDef
from bot.notify.coalescer import Coalescer
from bot.notify.deliverer import Deliverer
from bot.notify.outbox import AT_ONCE
from bot.people.permissions import Actor
from bot.runs.lifecycle import RunRequest, start_run
from bot.slack.timers import ManualTimer, Timer
from bot.slack_emulator import Channel, SlackEmulator, User
from bot.workflows.definitions import define
from storage.db import unit_of_work
from storage.models import Outbox, Run
from storage.vocabulary import AssigneeKind, Note, StepKind
from tests.messages import delivery_marks
from tests.stack import START, make_settings

TEAM = "T0BATON"
OWNER = User("U0OWNER", "owner", real_name="Run Owner", tz="Europe/Berlin")
ALICE = User("U0ALICE", "alice", real_name="Alice", tz="Europe/Berlin")
CHANNELS = 40
# One step, a timer: starting a run sends its card and nothing else.
PAUSE = WorkflowDef(
    name="pause",
    title="A pause",
    steps=(StepDef(id="pause", title="Pause", kind=StepKind.WAIT, wait=timedelta(hours=1)),),
)
# One step for Alice: three runs of it started at once are three DMs into one channel, in one
# batch (three steps of one run would be one grouped DM).
TRIPLE = WorkflowDef(
    name="triple",
    title="One for Alice",
    steps=(StepDef(id="one", title="Task one", assignee=Assignee(AssigneeKind.USER, ALICE.id)),),
)


def channel(i: int) -> str:
    return f"C0BATCH{i:03d}"


@dataclass
class Fleet:
    emulator: SlackEmulator
    baton: Baton

    def replica(self, name: str, timer: Timer | None = None) -> Deliverer:
        """A deliverer of its own, as another replica runs, paced as in production (in real
        seconds unless a `timer` is given)."""
        runtime = replace(self.baton.runtime, worker_id=name)
        return Deliverer(runtime, channel_interval=1.0, timer=timer)

    async def start(self, workflow: str, channels: list[str]) -> list[int]:
        actor = Actor(TEAM, OWNER.id)
        runs = [
            await start_run(self.baton.runtime, actor, RunRequest(workflow, {}, where), "")
            for where in channels
        ]
        return [run.id for run in runs if run.id is not None]

    async def rows(self) -> list[Outbox]:
        async with unit_of_work(self.baton.runtime.sessions) as session:
            return list((await session.exec(select(Outbox).order_by(col(Outbox.id)))).all())

    async def runs(self) -> list[Run]:
        async with unit_of_work(self.baton.runtime.sessions) as session:
            return list((await session.exec(select(Run).order_by(col(Run.id)))).all())


@pytest.fixture
async def fleet(database_url: str) -> AsyncIterator[Fleet]:
    """Baton (not started: the tests run its deliverers) against an emulator holding Slack's
    pacing, with as many channels as a batch takes."""
    channels = [Channel(channel(i), f"batch-{i:03d}", (OWNER.id,)) for i in range(CHANNELS)]
    async with SlackEmulator(users=(OWNER, ALICE), channels=channels) as emulator:
        emulator.enforce_pacing(1.0)
        baton = create_app(make_settings(emulator, database_url), clock=ManualClock(START))
        admin = Actor(TEAM, OWNER.id, is_admin=True)
        for workflow in (PAUSE, TRIPLE):
            await define(baton.runtime, admin, workflow)
        try:
            yield Fleet(emulator, baton)
        finally:
            await baton.runtime.engine.dispose()


async def test_a_batch_of_cards_costs_the_same_statements_whatever_its_size(fleet: Fleet) -> None:
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    engine = fleet.baton.runtime.engine.sync_engine
    # Seconds stand still: however slow the machine, no lease is renewed and every outcome
    # waits for the rest of its batch, so the count is the bookkeeping's alone.
    deliverer = fleet.replica("replica-a", ManualTimer(ManualClock(START)))
    counts = []
    event.listen(engine, "before_cursor_execute", seen)
    try:
        for channels in ([channel(0), channel(1)], [channel(i) for i in range(2, CHANNELS)]):
            await fleet.start("pause", channels)
            statements.clear()
            assert await deliverer.deliver_due() == len(channels)
            counts.append(len(statements))
    finally:
        event.remove(engine, "before_cursor_execute", seen)

    # Two cards or 38: the claim (with the runs, steps and pacing slots it needs), then one
    # transaction writing every outcome. Before batches, each card cost about ten.
    assert counts[0] == counts[1] <= 10, counts
    assert {row.state for row in await fleet.rows()} == {"sent"}
    for run in await fleet.runs():
        (card,) = fleet.emulator.messages(run.channel_id)
        assert run.card_ts == card.ts  # stored with the card's outcome
    assert fleet.emulator.pacing_violations(1.0) == []


async def test_two_replicas_racing_over_a_batch_post_each_message_once(fleet: Fleet) -> None:
    emulator = fleet.emulator
    await fleet.start("pause", [channel(i) for i in range(CHANNELS)])
    # Their cards wait for the first card there.
    await fleet.start("triple", [channel(0)] * 3)
    replicas = [fleet.replica("replica-a"), fleet.replica("replica-b")]

    async def deliver(replica: Deliverer) -> None:
        while await replica.pending():
            await replica.deliver_due()
            await asyncio.sleep(0.05)

    async with asyncio.timeout(30):
        await asyncio.gather(*(deliver(replica) for replica in replicas))

    rows = await fleet.rows()
    assert {row.state for row in rows} == {"sent"}
    assert {row.claimed_by for row in rows} <= {"replica-a", "replica-b"}
    marks = delivery_marks(emulator.calls)
    assert len(marks) == len(set(marks)) == len(rows) == CHANNELS + 3 + 3
    for i in range(CHANNELS):
        assert len(emulator.messages(channel(i))) == (4 if i == 0 else 1)
    for run in await fleet.runs():
        assert run.card_ts in {m.ts for m in emulator.messages(run.channel_id)}
    # Alice's three DMs, from three conversations in one batch, went a second apart.
    assert len(emulator.dm(ALICE.id)) == 3
    assert not [call for call in emulator.calls if call.status == 429]
    assert emulator.pacing_violations(1.0) == []


async def test_a_batch_taken_over_in_flight_writes_no_outcome_and_doubles_nothing(
    fleet: Fleet,
) -> None:
    """Replica A's posts are slow to answer; meanwhile B takes the batch over. A must write
    neither the rows' outcomes nor the cards' ts; B finds A's messages in the history."""
    emulator = fleet.emulator
    count = 5
    await fleet.start("pause", [channel(i) for i in range(count)])
    replica_a, replica_b = fleet.replica("replica-a"), fleet.replica("replica-b")
    slow = emulator.hold("chat.postMessage")
    delivering = asyncio.create_task(replica_a.deliver_due())
    await emulator.wait_for(lambda: slow.waiting == count)  # every post has reached Slack
    async with unit_of_work(fleet.baton.runtime.sessions) as session:
        await session.exec(  # B takes the rows over (A's lease ran out, say)
            update(Outbox).values(
                claimed_by="replica-b", claimed_until=datetime(2000, 1, 1, tzinfo=UTC)
            )
        )
    slow.release()
    assert await delivering == count  # A heard back, and found its claim gone

    rows = await fleet.rows()
    assert {row.state for row in rows} == {"pending"}
    assert all(row.posted == {} for row in rows)
    assert all(run.card_ts is None for run in await fleet.runs())

    while await replica_b.pending():
        await replica_b.deliver_due()
    marks = delivery_marks(emulator.calls)
    assert len(marks) == len(set(marks)) == count
    assert {row.state for row in await fleet.rows()} == {"sent"}
    for run in await fleet.runs():
        (card,) = emulator.messages(run.channel_id)
        assert run.card_ts == card.ts
    assert any(call.method == "conversations.history" for call in emulator.calls)


async def test_a_note_whose_payload_does_not_decode_dies_alone(fleet: Fleet) -> None:
    """Hand-edited rows fail for good, with the reason, in a batch that delivers the rest."""
    notes: list[tuple[Note, str, dict[str, Any]]] = [
        (Note.RUN_CARD, channel(0), {"run_id": "seven"}),
        (Note.DIRECT, ALICE.id, {"text": "to nobody"}),
        (Note.STEP_READY, "step:1", {"step_run_ids": [1]}),
        (Note.DIRECT, OWNER.id, {"user_id": OWNER.id, "text": "Still delivered"}),
    ]
    async with unit_of_work(fleet.baton.runtime.sessions) as session:
        for kind, conversation, payload in notes:
            session.add(
                Outbox(
                    team_id=TEAM,
                    kind=kind,
                    conversation=conversation,
                    payload=payload,
                    next_attempt_at=AT_ONCE,
                    created_at=START,
                )
            )
    deliverer = fleet.replica("replica-a", ManualTimer(ManualClock(START)))
    assert await deliverer.deliver_due() == len(notes)

    card, direct, ready, fine = await fleet.rows()
    assert [row.state for row in (card, direct, ready)] == ["dead"] * 3
    assert "run_card note's payload does not decode (run_id:" in str(card.last_error)
    assert "direct note's payload does not decode (user_id:" in str(direct.last_error)
    assert "step_ready note's payload does not decode" in str(ready.last_error)
    assert fine.state == "sent"
    assert [m.text for m in fleet.emulator.dm(OWNER.id)] == ["Still delivered"]
    assert fleet.emulator.dm(ALICE.id) == []


async def test_requests_made_together_share_a_flush_and_fail_alone() -> None:
    flushes: list[list[int]] = []

    async def flush(items: list[int]) -> list[int | Exception]:
        flushes.append(items)
        if 13 in items:  # the database refuses this one: its transaction fails whole
            raise ValueError("unlucky")
        return [item * 2 for item in items]

    together: Coalescer[int, int] = Coalescer(flush)
    results = await asyncio.gather(
        *(together(item) for item in (1, 2, 13, 4)), return_exceptions=True
    )
    assert results[:2] == [2, 4] and results[3] == 8
    assert isinstance(results[2], ValueError)
    # One flush for the four, then (it failed) one for each: only 13's caller sees the error.
    assert flushes == [[1, 2, 13, 4], [1], [2], [13], [4]]
    assert await together(5) == 10
