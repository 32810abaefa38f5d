"""Recording what an integration decided about its step: done, or failed (the owner is told).

Both go through `apply_change` as Baton itself, so the state machine refuses a second outcome
for the same step (a racing replica, a double callback) and nothing is applied twice. The
`apply_*` functions work inside the caller's transaction (the call's lease check, so the lease
and the outcome commit together); `complete` and `fail` take a transaction of their own.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm.exc import StaleDataError

from bot.core.errors import Conflict, NotFound
from bot.core.states import StepAction
from bot.people.permissions import system_actor
from bot.runs.steps import StepChange, apply_change
from bot.runtime import Runtime
from bot.work import Work, begin


async def complete(
    runtime: Runtime, team_id: str, run_key: str, step_key: str, output: dict[str, Any]
) -> bool:
    """`apply_complete` in a transaction of its own."""
    try:
        async with begin(runtime) as work:
            applied = await apply_complete(work, runtime, team_id, run_key, step_key, output)
    except StaleDataError:  # the step changed at the same moment: that change won
        return False
    return applied


async def fail(runtime: Runtime, team_id: str, run_key: str, step_key: str, reason: str) -> bool:
    """`apply_fail` in a transaction of its own."""
    try:
        async with begin(runtime) as work:
            applied = await apply_fail(work, runtime, team_id, run_key, step_key, reason)
    except StaleDataError:
        return False
    return applied


async def apply_complete(
    work: Work,
    runtime: Runtime,
    team_id: str,
    run_key: str,
    step_key: str,
    output: dict[str, Any],
) -> bool:
    """Mark the hook step done with its output; False (and nothing written) if it had already
    finished or its run ended."""
    change = StepChange(StepAction.COMPLETE, output=output)
    try:
        await apply_change(work, runtime, system_actor(team_id), run_key, step_key, change)
    except (Conflict, NotFound):
        return False
    return True


async def apply_fail(
    work: Work, runtime: Runtime, team_id: str, run_key: str, step_key: str, reason: str
) -> bool:
    """Fail the hook step; False (and nothing written) if it had already finished or its run
    ended. The engine tells the run's owner, with Retry and Skip, in one message."""
    change = StepChange(StepAction.FAIL, reason=reason)
    try:
        await apply_change(work, runtime, system_actor(team_id), run_key, step_key, change)
    except (Conflict, NotFound):
        return False
    return True
