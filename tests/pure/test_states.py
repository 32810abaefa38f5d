"""The state machine, exhaustively: every (kind, state, action) either moves as SPEC section 1
says or is refused with a reason."""

from __future__ import annotations

import itertools

import pytest

from bot.core.states import (
    StepAction,
    StepView,
    TransitionRefused,
    allowed_actions,
    newly_ready,
    next_state,
    run_outcome,
)
from storage.vocabulary import RunState, StepState

KINDS = ("task", "approval", "hook", "wait")
S = StepState
A = StepAction

ALLOWED = {
    ("task", S.READY, A.START): S.IN_PROGRESS,
    ("task", S.READY, A.DONE): S.DONE,
    ("task", S.IN_PROGRESS, A.DONE): S.DONE,
    ("approval", S.READY, A.APPROVE): S.DONE,
    ("approval", S.IN_PROGRESS, A.APPROVE): S.DONE,
    ("approval", S.READY, A.REJECT): S.FAILED,
    ("approval", S.IN_PROGRESS, A.REJECT): S.FAILED,
    ("hook", S.READY, A.COMPLETE): S.DONE,
    ("hook", S.IN_PROGRESS, A.COMPLETE): S.DONE,
    ("wait", S.READY, A.COMPLETE): S.DONE,
    ("wait", S.IN_PROGRESS, A.COMPLETE): S.DONE,
    ("hook", S.READY, A.FAIL): S.FAILED,
    ("hook", S.IN_PROGRESS, A.FAIL): S.FAILED,
}
for kind in ("task", "approval"):
    for state in (S.READY, S.IN_PROGRESS):
        ALLOWED[(kind, state, A.BLOCK)] = S.BLOCKED
    ALLOWED[(kind, S.BLOCKED, A.UNBLOCK)] = S.IN_PROGRESS
    ALLOWED[(kind, S.READY, A.CLAIM)] = S.READY
    for state in (S.READY, S.IN_PROGRESS, S.BLOCKED):
        ALLOWED[(kind, state, A.REASSIGN)] = S.READY
for kind in KINDS:
    for state in (S.READY, S.IN_PROGRESS, S.BLOCKED, S.FAILED):
        ALLOWED[(kind, state, A.SKIP)] = S.SKIPPED
    ALLOWED[(kind, S.FAILED, A.RETRY)] = S.READY


@pytest.mark.parametrize(
    ("kind", "state", "action"), list(itertools.product(KINDS, list(StepState), list(StepAction)))
)
def test_every_transition(kind: str, state: StepState, action: StepAction) -> None:
    expected = ALLOWED.get((kind, state, action))
    if expected is None:
        with pytest.raises(TransitionRefused):
            next_state(kind, state, action)
    else:
        assert next_state(kind, state, action) == expected


def test_refusals_say_why() -> None:
    with pytest.raises(TransitionRefused, match="already done"):
        next_state("task", S.DONE, A.DONE)
    with pytest.raises(TransitionRefused, match="does not apply to a task step"):
        next_state("task", S.READY, A.APPROVE)
    with pytest.raises(TransitionRefused, match="does not apply to an approval step"):
        next_state("approval", S.READY, A.DONE)


def view(key: str, state: StepState, *after: str) -> StepView:
    return StepView(key, "task", state, after)


def test_a_join_waits_for_every_branch() -> None:
    steps = [
        view("a", S.DONE),
        view("b", S.IN_PROGRESS, "a"),
        view("c", S.DONE, "a"),
        view("d", S.WAITING, "b", "c"),
    ]
    assert newly_ready(steps) == []
    steps[1] = view("b", S.SKIPPED, "a")
    assert newly_ready(steps) == ["d"]


def test_run_outcomes() -> None:
    assert run_outcome([S.DONE, S.SKIPPED]) == RunState.COMPLETED
    assert run_outcome([S.DONE, S.READY]) is None
    # A failed step fails the run only once nothing else can still move.
    assert run_outcome([S.FAILED, S.IN_PROGRESS]) is None
    assert run_outcome([S.FAILED, S.WAITING]) == RunState.FAILED


@pytest.mark.parametrize(("kind", "state"), list(itertools.product(KINDS, list(StepState))))
def test_allowed_actions_are_the_transitions_that_apply(kind: str, state: StepState) -> None:
    assert allowed_actions(kind, state) == {
        action for action in StepAction if (kind, state, action) in ALLOWED
    }
