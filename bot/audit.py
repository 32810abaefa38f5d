"""The audit trail: who did what, when, written with the change itself."""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core.clock import Clock
from storage.models import AuditEvent


def record(
    session: AsyncSession,
    clock: Clock,
    *,
    team_id: str,
    action: str,
    actor_id: str | None,
    run_id: int | None = None,
    step_key: str | None = None,
    **detail: Any,
) -> None:
    session.add(
        AuditEvent(
            team_id=team_id,
            run_id=run_id,
            step_key=step_key,
            actor_id=actor_id,
            action=action,
            detail=detail,
            created_at=clock.now(),
        )
    )
