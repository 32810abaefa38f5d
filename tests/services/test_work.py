"""A use case's unit of work: one `now`, notes and audit lines committed with the change, and
the deliverer woken only after a commit that wrote notes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from bot.core.clock import ManualClock
from bot.notify.payloads import Direct
from bot.runtime import Runtime
from bot.work import begin
from storage.db import unit_of_work
from storage.models import AuditEvent, Outbox
from tests.stack import START


async def rows(runtime: Runtime) -> tuple[list[Outbox], list[AuditEvent]]:
    async with unit_of_work(runtime.sessions) as session:
        notes = list((await session.exec(select(Outbox))).all())
        audit = list((await session.exec(select(AuditEvent))).all())
    return notes, audit


async def test_notes_and_audit_commit_with_the_change_and_wake_the_deliverer(
    runtime: Runtime,
) -> None:
    clock = runtime.clock
    assert isinstance(clock, ManualClock)
    async with begin(runtime) as work:
        clock.advance(timedelta(minutes=5))  # the use case keeps the time it began with
        work.tell(team_id="T1", conversation="U1", note=Direct(user_id="U1", text="hi"))
        work.audit(team_id="T1", action="test.done", actor_id="U1", run_id=None, why="because")
        assert not runtime.outbox_signal.is_set()  # nothing is delivered before the commit
    assert runtime.outbox_signal.is_set()
    notes, audit = await rows(runtime)
    assert [(n.kind, n.conversation, n.payload, n.created_at) for n in notes] == [
        ("direct", "U1", {"user_id": "U1", "text": "hi"}, START)
    ]
    assert [(a.action, a.actor_id, a.detail, a.created_at) for a in audit] == [
        ("test.done", "U1", {"why": "because"}, START)
    ]


async def refused_change(runtime: Runtime) -> None:
    async with begin(runtime) as work:
        work.tell(team_id="T1", conversation="U1", note=Direct(user_id="U1", text=""))
        await work.session.flush()  # the note reached the database, uncommitted
        raise RuntimeError("refused")


async def test_a_rolled_back_change_tells_nobody(runtime: Runtime) -> None:
    with pytest.raises(RuntimeError, match="refused"):
        await refused_change(runtime)
    assert not runtime.outbox_signal.is_set()
    assert await rows(runtime) == ([], [])


async def test_a_change_without_notes_does_not_wake_the_deliverer(runtime: Runtime) -> None:
    async with begin(runtime) as work:
        work.audit(team_id="T1", action="test.quiet", actor_id=None)
    assert not runtime.outbox_signal.is_set()
    assert len((await rows(runtime))[1]) == 1
