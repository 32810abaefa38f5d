"""One use case's unit of work: its transaction, its one `now`, the notifications and audit lines
it writes with its change, and waking the deliverer once they are committed.

    async with begin(runtime) as work:
        ...change rows through work.session...
        work.tell(team_id=..., conversation=..., note=Digest(...))
        work.audit(team_id=..., action="digest.subscribed", actor_id=...)

Notes and audit lines are rows in the same transaction as the change (the outbox): a rollback
drops them with it, and the deliverer is woken only after a commit that wrote some.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.notify.outbox import AT_ONCE
from bot.notify.payloads import NotePayload
from bot.runtime import Runtime
from storage.db import unit_of_work
from storage.models import AuditEvent, Outbox


@dataclass
class Work:
    session: AsyncSession
    now: datetime  # read once: every row the change writes carries the same time
    wakes: bool = False  # whether the deliverer has work once this commits

    def tell(self, *, team_id: str, conversation: str, note: NotePayload) -> Outbox:
        """Send a notification if, and when, this unit of work commits: its kind follows from
        the payload's type (bot/notify/payloads.py).

        `conversation` orders delivery: notes with the same key go out in the order told.
        """
        row = Outbox(
            team_id=team_id,
            kind=note.KIND,
            conversation=conversation,
            payload=note.encode(),
            next_attempt_at=AT_ONCE,
            created_at=self.now,
        )
        self.session.add(row)
        self.wakes = True
        return row

    def wake(self) -> None:
        """The deliverer has work once this commits, though no note was told here (notes
        held back earlier were released)."""
        self.wakes = True

    def audit(
        self,
        *,
        team_id: str,
        action: str,
        actor_id: str | None,
        run_id: int | None = None,
        step_key: str | None = None,
        **detail: Any,
    ) -> None:
        """Who did what, written with the change itself."""
        self.session.add(
            AuditEvent(
                team_id=team_id,
                run_id=run_id,
                step_key=step_key,
                actor_id=actor_id,
                action=action,
                detail=detail,
                created_at=self.now,
            )
        )


@asynccontextmanager
async def begin(runtime: Runtime, *, now: datetime | None = None) -> AsyncIterator[Work]:
    """Commit on success (then wake the deliverer if anything was told), roll back on error.
    `now` is the business time the work happens at (a sweep's), else the clock's."""
    async with unit_of_work(runtime.sessions) as session:
        work = Work(session, runtime.clock.now() if now is None else now)
        yield work
    if work.wakes:
        runtime.outbox_signal.set()
