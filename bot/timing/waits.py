"""Wait steps: when a wait step's timer comes due, the step completes."""

from __future__ import annotations

import logging

from bot.core.errors import BatonError
from bot.core.states import StepAction
from bot.people.permissions import system_actor
from bot.runs.steps import StepChange, apply_change
from bot.runtime import Runtime
from bot.work import Work
from storage.models import Run, StepRun, Timer

log = logging.getLogger("baton.waits")


async def finish_wait(work: Work, runtime: Runtime, timer: Timer) -> None:
    """A wait step's time is up: complete it in the transaction that claimed its timer, so the
    timer fires and the step finishes together, once."""
    step = await work.session.get(StepRun, timer.step_run_id) if timer.step_run_id else None
    run = await work.session.get(Run, step.run_id) if step else None
    if step is None or run is None:
        return
    change = StepChange(StepAction.COMPLETE)
    try:
        await apply_change(work, runtime, system_actor(run.team_id), run.key, step.step_key, change)
    except BatonError as exc:  # skipped by its owner meanwhile, or the run ended
        log.info("wait step %s/%s not completed: %s", run.key, step.step_key, exc)
