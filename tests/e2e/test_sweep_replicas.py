"""Two Baton replicas sweeping one PostgreSQL database through a simulated day: every
reminder, escalation, wait step and scheduled run happens exactly once, counted at Slack."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select

from bot.app.composition import Baton, create_app
from bot.slack.ids import ActionId, TimerRef
from storage.db import session_factory, unit_of_work
from storage.models import AuditEvent, Run, StepRun, Timer
from tests.databases import require_postgres
from tests.stack import Stack, make_settings

pytestmark = pytest.mark.postgres

TRIAGE = (
    "define triage Triage the queue\n"
    "sort: Sort the queue <@U0ALICE|alice> due 2h\n"
    "fix: Fix the worst <!subteam^S0ITTEAM|@it-team> due 1h\n"
    "cool: Let it cool wait 1h\n"
    "check: Check again <@U0DAVE|dave> after cool due 2h"
)


@pytest.fixture
def backend() -> str:
    """This test is about PostgreSQL's row locks: it runs there only."""
    require_postgres()
    return "postgres"


@pytest.fixture
async def second_replica(stack: Stack, database_url: str) -> AsyncIterator[Baton]:
    """Another `baton serve` on the same database, clock and Slack workspace."""
    settings = make_settings(stack.emulator, database_url)
    replica = create_app(settings, clock=stack.clock, channel_interval=0.0)
    await replica.start()
    try:
        yield replica
    finally:
        await replica.stop()


def reminder_timer_ids(stack: Stack, user: str) -> list[int]:
    ids: list[int] = []
    for message in stack.emulator.dm(user):
        for ref in message.buttons:
            if ref.action_id == ActionId.SNOOZE_HOUR:
                ids += TimerRef.decode(ref.element["value"]).timers
    return ids


async def test_two_replicas_do_each_piece_of_due_work_once(
    stack: Stack, second_replica: Baton
) -> None:
    await stack.command(TRIAGE, user="U0DAVE")
    await stack.command("schedule triage 0 */3 * * *", user="U0DAVE", channel="C0OPS")
    assert "as schedule 1" in stack.ephemeral("U0DAVE")

    replicas = [stack.baton, second_replica]
    start = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    end = start + timedelta(days=1)
    ticks = 0
    while stack.clock.now() < end:
        stack.clock.advance(timedelta(minutes=10))
        # Both sweep at once; who starts first alternates, so both win some of the work.
        order = replicas if ticks % 2 == 0 else replicas[::-1]
        await asyncio.gather(*(replica.sweeper.sweep() for replica in order))
        await stack.settle()
        ticks += 1

    sessions = session_factory(stack.baton.runtime.engine)
    async with unit_of_work(sessions) as session:
        runs = (await session.exec(select(Run).order_by(col(Run.id)))).all()
        fired = (
            await session.exec(
                select(Timer).where(Timer.state == "fired", col(Timer.recipient_id).is_not(None))
            )
        ).all()
        cooled = (
            await session.exec(
                select(StepRun).where(StepRun.step_key == "cool", StepRun.state == "done")
            )
        ).all()
        completions = (
            await session.exec(select(AuditEvent).where(AuditEvent.action == "step.complete"))
        ).all()

    # Scheduled runs every three hours of Dave's London day: 09:00, 12:00, ... 06:00.
    occurrences = [start + timedelta(hours=1 + 3 * n) for n in range(8)]
    assert [r.created_at for r in runs] == occurrences
    assert len([m for m in stack.emulator.messages("C0OPS") if not m.is_reply]) == 8

    # Wait steps: each completed once, its next step told once.
    assert len(cooled) == len(completions) == 8
    check_dms = [
        m for m in stack.emulator.dm("U0DAVE") if m.text.startswith("Your step: Check again")
    ]
    assert len(check_dms) == 8

    # Reminders: every fired reminder is in exactly one message, and no reminder was fired
    # twice (by both replicas) for the same person.
    sent: Counter[int] = Counter()
    for user in ("U0ALICE", "U0BOB", "U0CAROL", "U0DAVE"):
        sent.update(reminder_timer_ids(stack, user))
    assert sent, "the day produced reminders"
    assert max(sent.values()) == 1
    assert set(sent) == {t.id for t in fired}
    identities = Counter((t.step_run_id, t.kind, t.recipient_id, t.attempt) for t in fired)
    assert max(identities.values()) == 1

    # Both replicas did some of the work.
    for replica in replicas:
        assert (
            sum(
                sample.value
                for metric in replica.runtime.metrics.fired.collect()
                for sample in metric.samples
                if sample.name.endswith("_total")
            )
            > 0
        )
