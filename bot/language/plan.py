"""The plan of a workflow: the order its steps can run in, what runs in parallel, and the
critical path (the chain of steps whose durations add up longest).

A step's duration for the plan is its ``due`` (its ``wait`` for a wait step), or zero without
one. Ties between equally long chains go to the chain with more steps, then to the steps
defined first.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import timedelta

from bot.language.duration import format_duration
from bot.language.model import DefinitionError, Problem, StepDef, WorkflowDef
from bot.language.step_graph import find_cycles
from storage.vocabulary import StepKind

__all__ = [
    "Dependencies",
    "Plan",
    "describe_plan",
    "make_plan",
    "remaining_critical",
    "step_duration",
]


@dataclass(frozen=True, slots=True)
class Plan:
    order: tuple[str, ...]
    """A topological order: every step after the steps it waits on; otherwise as defined."""
    groups: tuple[tuple[str, ...], ...]
    """Parallel levels: each step is in the first level after all of its dependencies."""
    critical_path: tuple[str, ...]
    critical_duration: timedelta


@dataclass(frozen=True, slots=True)
class Dependencies:
    """What the steps of a definition wait on, and an order they can run in: made once per
    definition, then asked for the longest chain under any durations (the plan's due times, a
    workflow's history, a run's time left)."""

    after: Mapping[str, tuple[str, ...]]
    """Each step's known `after` ids without repeats, keyed in definition order."""
    order: tuple[str, ...]
    """A topological order: every step after the steps it waits on; otherwise as defined."""
    index: Mapping[str, int]
    """Each step's place in the definition (ties between chains go to the earlier)."""

    @classmethod
    def of(cls, defn: WorkflowDef) -> Dependencies:
        """Unknown `after` ids are ignored; a cycle raises :class:`DefinitionError`."""
        steps = _unique_steps(defn)
        return cls(
            after={step_id: tuple(_deps(step, steps)) for step_id, step in steps.items()},
            order=_topological_order(defn, steps),
            index={step_id: i for i, step_id in enumerate(steps)},
        )

    def longest_chain(
        self, durations: Mapping[str, timedelta], done: Collection[str] = frozenset()
    ) -> tuple[tuple[str, ...], timedelta]:
        """The chain of steps not in `done` whose `durations` add up longest, and that sum.
        Ties go to the chain with more steps, then to the steps defined first."""
        index = self.index
        # best[s] = (duration, number of steps) of the longest chain ending at s
        best: dict[str, tuple[timedelta, int]] = {}
        previous: dict[str, str | None] = {}
        for step_id in self.order:
            if step_id in done:
                continue
            deps = [d for d in self.after[step_id] if d in best]
            before = max(deps, key=lambda d: (*best[d], -index[d]), default=None)
            base = best[before] if before is not None else (timedelta(0), 0)
            best[step_id] = (base[0] + durations[step_id], base[1] + 1)
            previous[step_id] = before
        if not best:
            return (), timedelta(0)
        end: str | None = max(best, key=lambda s: (*best[s], -index[s]))
        total = best[end][0] if end is not None else timedelta(0)
        path: list[str] = []
        while end is not None:
            path.append(end)
            end = previous[end]
        return tuple(reversed(path)), total


def step_duration(step: StepDef) -> timedelta:
    """How long a step counts for in the plan: ``wait`` for a wait step, else ``due``, else 0."""
    if step.kind is StepKind.WAIT and step.wait is not None:
        return step.wait
    return step.due or timedelta(0)


def make_plan(defn: WorkflowDef) -> Plan:
    """The plan of a definition. Unknown ``after`` ids are ignored; a cycle raises
    :class:`DefinitionError` (a validated definition has none)."""
    deps = Dependencies.of(defn)
    level: dict[str, int] = {}
    for step_id in deps.order:
        level[step_id] = 1 + max((level[d] for d in deps.after[step_id]), default=-1)
    groups: list[list[str]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for step_id in deps.after:  # definition order within a level
        groups[level[step_id]].append(step_id)
    path, total = deps.longest_chain(_durations(defn))
    return Plan(
        order=deps.order,
        groups=tuple(tuple(g) for g in groups),
        critical_path=path,
        critical_duration=total,
    )


def remaining_critical(
    defn: WorkflowDef, done: Collection[str]
) -> tuple[tuple[str, ...], timedelta]:
    """The critical path among the steps not yet ``done`` (pass done and skipped steps) and
    its duration: how long the rest of a run takes at least, if every step takes its due."""
    return Dependencies.of(defn).longest_chain(_durations(defn), done)


def _durations(defn: WorkflowDef) -> dict[str, timedelta]:
    return {step_id: step_duration(step) for step_id, step in _unique_steps(defn).items()}


def describe_plan(plan: Plan, defn: WorkflowDef) -> str:
    """A few readable lines, e.g.::

        1. docs
        2. laptop ‖ accounts
        3. lunch
        4. signoff
        Critical path: docs → laptop → lunch → signoff (3d4h)

    ``defn`` is the definition the plan was made from (reserved for richer labels).
    """
    del defn
    lines = [f"{n}. {' ‖ '.join(group)}" for n, group in enumerate(plan.groups, start=1)]
    if plan.critical_path:
        chain = " → ".join(plan.critical_path)
        length = (
            format_duration(plan.critical_duration)
            if plan.critical_duration
            else "no due times or waits"
        )
        lines.append(f"Critical path: {chain} ({length})")
    return "\n".join(lines)


def _unique_steps(defn: WorkflowDef) -> dict[str, StepDef]:
    steps: dict[str, StepDef] = {}
    for step in defn.steps:
        steps.setdefault(step.id, step)
    return steps


def _deps(step: StepDef, steps: dict[str, StepDef]) -> list[str]:
    return [d for d in dict.fromkeys(step.after) if d in steps]


def _topological_order(defn: WorkflowDef, steps: dict[str, StepDef]) -> tuple[str, ...]:
    cycles = find_cycles(defn)
    if cycles:
        raise DefinitionError(
            Problem(
                f"these steps wait on each other in a cycle: {' -> '.join(c)}",
                step=c[0],
                hint="Remove one of these after links so that the steps can start",
            )
            for c in cycles
        )
    index = {step_id: i for i, step_id in enumerate(steps)}
    waiting = {step_id: len(_deps(step, steps)) for step_id, step in steps.items()}
    dependents: dict[str, list[str]] = {step_id: [] for step_id in steps}
    for step_id, step in steps.items():
        for dep in _deps(step, steps):
            dependents[dep].append(step_id)
    ready = [index[s] for s, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    ids = list(steps)
    order: list[str] = []
    while ready:
        step_id = ids[heapq.heappop(ready)]
        order.append(step_id)
        for follower in dependents[step_id]:
            waiting[follower] -= 1
            if waiting[follower] == 0:
                heapq.heappush(ready, index[follower])
    return tuple(order)
