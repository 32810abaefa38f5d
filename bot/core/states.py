"""The run and step-run state machine (SPEC section 1). Pure: no I/O.

Each step action maps (kind, state) to the next state; anything not in the table is refused
with a sentence that says why, which is what a second click or a stale button sees.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from storage.vocabulary import RunState, StepKind, StepState

__all__ = [
    "CLAIMING_ACTIONS",
    "FINISHED_STATES",
    "OPEN_STATES",
    "PEOPLE_KINDS",
    "RESENDING_ACTIONS",
    "SATISFIED_STATES",
    "StepAction",
    "StepView",
    "TransitionRefused",
    "allowed_actions",
    "describe_state",
    "newly_ready",
    "next_state",
    "run_outcome",
]


class StepAction(StrEnum):
    START = "start"
    DONE = "done"
    BLOCK = "block"
    UNBLOCK = "unblock"
    SKIP = "skip"
    RETRY = "retry"
    APPROVE = "approve"
    REJECT = "reject"
    REASSIGN = "reassign"
    CLAIM = "claim"
    # Done by Baton itself: a timer ran out, an integration answered or gave up.
    COMPLETE = "complete"
    FAIL = "fail"


# A group member taking one of these on a step nobody in the group has claimed claims it.
CLAIMING_ACTIONS = frozenset(
    {
        StepAction.CLAIM,
        StepAction.START,
        StepAction.DONE,
        StepAction.APPROVE,
        StepAction.REJECT,
        StepAction.BLOCK,
    }
)
# These send the step out again as if it had just become ready (after a failure, or to the
# person it was handed to).
RESENDING_ACTIONS = frozenset({StepAction.RETRY, StepAction.REASSIGN})

OPEN_STATES = frozenset({StepState.READY, StepState.IN_PROGRESS, StepState.BLOCKED})
FINISHED_STATES = frozenset(
    {StepState.DONE, StepState.SKIPPED, StepState.FAILED, StepState.CANCELLED}
)
SATISFIED_STATES = frozenset({StepState.DONE, StepState.SKIPPED})

_STATE_WORDS = {
    StepState.WAITING: "is still waiting for earlier steps",
    StepState.READY: "is ready and not started yet",
    StepState.IN_PROGRESS: "is in progress",
    StepState.BLOCKED: "is blocked",
    StepState.DONE: "is already done",
    StepState.SKIPPED: "was skipped",
    StepState.FAILED: "has failed",
    StepState.CANCELLED: "was cancelled",
}

# Steps a person acts on; Baton itself finishes hook and wait steps.
PEOPLE_KINDS = frozenset({StepKind.TASK, StepKind.APPROVAL})

_OPEN = (StepState.READY, StepState.IN_PROGRESS, StepState.BLOCKED)
_WORKABLE = (StepState.READY, StepState.IN_PROGRESS)
_PEOPLE = (StepKind.TASK, StepKind.APPROVAL)
_ALL_KINDS = tuple(StepKind)

# action -> (kinds it applies to, states it applies in, resulting state)
_TABLE: Mapping[StepAction, tuple[tuple[StepKind, ...], tuple[StepState, ...], StepState]] = {
    StepAction.START: ((StepKind.TASK,), (StepState.READY,), StepState.IN_PROGRESS),
    StepAction.DONE: ((StepKind.TASK,), _WORKABLE, StepState.DONE),
    StepAction.BLOCK: (_PEOPLE, _WORKABLE, StepState.BLOCKED),
    StepAction.UNBLOCK: (_PEOPLE, (StepState.BLOCKED,), StepState.IN_PROGRESS),
    StepAction.SKIP: (
        _ALL_KINDS,
        (*_OPEN, StepState.FAILED),
        StepState.SKIPPED,
    ),
    StepAction.RETRY: (_ALL_KINDS, (StepState.FAILED,), StepState.READY),
    StepAction.APPROVE: ((StepKind.APPROVAL,), _WORKABLE, StepState.DONE),
    StepAction.REJECT: ((StepKind.APPROVAL,), _WORKABLE, StepState.FAILED),
    StepAction.REASSIGN: (_PEOPLE, _OPEN, StepState.READY),
    StepAction.CLAIM: (_PEOPLE, (StepState.READY,), StepState.READY),
    StepAction.COMPLETE: (
        (StepKind.HOOK, StepKind.WAIT),
        (StepState.READY, StepState.IN_PROGRESS),
        StepState.DONE,
    ),
    StepAction.FAIL: ((StepKind.HOOK,), (StepState.READY, StepState.IN_PROGRESS), StepState.FAILED),
}


class TransitionRefused(ValueError):
    """The action does not apply to the step as it stands; the message says why."""


@dataclass(frozen=True, slots=True)
class StepView:
    key: str
    kind: str
    state: StepState
    after: tuple[str, ...]


def next_state(kind: str, state: StepState, action: StepAction) -> StepState:
    kinds, states, result = _TABLE[action]
    if kind not in kinds:
        article = "an" if kind[:1] in "aeiou" else "a"
        raise TransitionRefused(f"{action.value} does not apply to {article} {kind} step")
    if state not in states:
        raise TransitionRefused(f"This step {_STATE_WORDS[state]}")
    return result


def allowed_actions(kind: str, state: StepState) -> frozenset[StepAction]:
    """Every action the table lets a step of this kind take in this state (who may take it
    is the caller's question)."""
    return frozenset(
        action
        for action, (kinds, states, _result) in _TABLE.items()
        if kind in kinds and state in states
    )


def describe_state(state: StepState) -> str:
    return _STATE_WORDS[state]


def newly_ready(steps: Iterable[StepView]) -> list[str]:
    """Waiting steps whose every `after` step is done or skipped, in the given order."""
    steps = list(steps)
    satisfied = {step.key for step in steps if step.state in SATISFIED_STATES}
    return [
        step.key
        for step in steps
        if step.state == StepState.WAITING and all(dep in satisfied for dep in step.after)
    ]


def run_outcome(states: Iterable[StepState]) -> RunState | None:
    """Completed when every step is done or skipped; failed when a failed step is left with
    nothing else that could still move; otherwise still active."""
    states = list(states)
    if all(state in SATISFIED_STATES for state in states):
        return RunState.COMPLETED
    if any(state == StepState.FAILED for state in states) and not any(
        state in OPEN_STATES for state in states
    ):
        return RunState.FAILED
    return None
