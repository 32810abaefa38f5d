"""Workspace settings: the escalation delay (SPEC section 5, "a workspace setting").

Anyone may see them (`/baton settings`); only admins change them. A workspace without a row of
its own (single-workspace mode before anything was set) has the defaults.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.core.errors import Forbidden, reads_input
from bot.people.permissions import Actor
from bot.runtime import Runtime
from bot.work import begin
from storage.db import is_postgres, unit_of_work
from storage.models import Workspace

DEFAULT_ESCALATION_DAYS: Final = 1
MAX_ESCALATION_DAYS: Final = 30
_DAYS_RE: Final = re.compile(r"(\d{1,4})\s*(?:d|days?|working\s+days?)?")


@dataclass(frozen=True, slots=True)
class WorkspaceSettings:
    # How many working days after a step's due time its run's owner is told; 0: never.
    escalation_working_days: int = DEFAULT_ESCALATION_DAYS


@reads_input
def parse_escalation(text: str) -> int:
    """`2`, `2d`, `2 working days`, or `off` (0). ValueError says what to write instead."""
    spelled = " ".join(text.lower().split())
    if spelled in ("off", "0", "none", "never"):
        return 0
    match = _DAYS_RE.fullmatch(spelled)
    if match is None:
        raise ValueError(
            f"`{text}` is not a number of working days: write 1 to {MAX_ESCALATION_DAYS} "
            "(e.g. `escalation 2`), or `off`."
        )
    days = int(match.group(1))
    if days > MAX_ESCALATION_DAYS:
        raise ValueError(
            f"{days} working days is too long: write 1 to {MAX_ESCALATION_DAYS}, or `off`."
        )
    return days


def describe_escalation(days: int) -> str:
    if days == 0:
        return "off: run owners are not told when a step stays overdue"
    span = "1 working day" if days == 1 else f"{days} working days"
    return f"{span}: a run's owner is told when a step is still open {span} after its due time"


async def get_settings(runtime: Runtime, team_id: str) -> WorkspaceSettings:
    async with unit_of_work(runtime.sessions) as session:
        row = await session.get(Workspace, team_id)
    if row is None:
        return WorkspaceSettings()
    return WorkspaceSettings(escalation_working_days=row.escalation_working_days)


async def set_escalation(
    runtime: Runtime, actor: Actor, days: int
) -> tuple[WorkspaceSettings, WorkspaceSettings]:
    """Set the escalation delay (admins only); returns the settings before and after.

    Escalations are planned when a step becomes overdue, so the new delay applies to steps that
    become overdue from now on; ones already planned keep their time."""
    if not actor.is_admin:
        raise Forbidden(
            "Only workspace admins may change Baton's settings. `/baton settings` shows them."
        )
    if not 0 <= days <= MAX_ESCALATION_DAYS:
        raise ValueError(f"escalation delay out of range: {days}")
    now = runtime.clock.now()
    insert = postgresql_insert if is_postgres(runtime.engine) else sqlite_insert
    async with begin(runtime) as work:
        row = await work.session.get(Workspace, actor.team_id)
        before = WorkspaceSettings(
            row.escalation_working_days if row is not None else DEFAULT_ESCALATION_DAYS
        )
        # An upsert: single-workspace mode may have no row yet, and two admins (or replicas)
        # setting it at once must not both try to create it.
        await work.session.exec(
            insert(Workspace)
            .values(
                team_id=actor.team_id,
                installed_at=now,
                active=True,
                name="",
                domain="",
                escalation_working_days=days,
            )
            .on_conflict_do_update(
                index_elements=["team_id"], set_={"escalation_working_days": days}
            )
        )
        work.audit(
            team_id=actor.team_id,
            actor_id=actor.user_id,
            action="workspace.settings",
            escalation_working_days=days,
            was=before.escalation_working_days,
        )
    return before, WorkspaceSettings(escalation_working_days=days)
