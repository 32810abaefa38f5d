"""The graph the after-links draw between a workflow's steps: what a step comes after, and the
steps that wait on each other in a cycle (which :mod:`bot.language.validate` reports and
:mod:`bot.language.plan` refuses)."""

from __future__ import annotations

from bot.language.model import WorkflowDef

__all__ = ["ancestors", "find_cycles"]


def ancestors(defn: WorkflowDef, step_id: str) -> set[str]:
    """Every step that ``step_id`` comes after, directly or not (cycles allowed)."""
    by_id = {s.id: s for s in defn.steps}
    seen: set[str] = set()
    start = by_id.get(step_id)
    todo = list(start.after) if start else []
    while todo:
        dep = todo.pop()
        if dep in seen or dep not in by_id:
            continue
        seen.add(dep)
        todo.extend(by_id[dep].after)
    return seen


def find_cycles(defn: WorkflowDef) -> list[list[str]]:
    """One cycle per group of steps that wait on each other, as ``[a, b, c, a]`` where each
    step comes after the one before it. It starts at the group's first step in definition order.
    """
    order = {s.id: i for i, s in enumerate(defn.steps)}
    # edges run from a step to the steps that come after it
    successors: dict[str, list[str]] = {s.id: [] for s in defn.steps}
    for step in defn.steps:
        for dep in dict.fromkeys(step.after):
            if dep in successors and step.id not in successors[dep]:
                successors[dep].append(step.id)
    for targets in successors.values():
        targets.sort(key=order.__getitem__)
    cycles: list[list[str]] = []
    for component in _strong_components(list(successors), successors):
        first = min(component, key=order.__getitem__)
        if len(component) == 1 and first not in successors[first]:
            continue
        cycles.append(_shortest_cycle(first, set(component), successors))
    cycles.sort(key=lambda c: order[c[0]])
    return cycles


def _strong_components(nodes: list[str], successors: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative so a long chain cannot exhaust the stack."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in nodes:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            nexts = successors[node]
            if child < len(nexts):
                work.append((node, child + 1))
                target = nexts[child]
                if target not in index:
                    work.append((target, 0))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return components


def _shortest_cycle(start: str, members: set[str], successors: dict[str, list[str]]) -> list[str]:
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for target in successors[node]:
                if target not in members:
                    continue
                if target == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if target not in previous:
                    previous[target] = node
                    following.append(target)
        frontier = following
    return [start, start]  # unreachable for a real component
