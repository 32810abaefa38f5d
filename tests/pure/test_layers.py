"""The house's shape (DESIGN.md): imports run handlers -> bot -> storage, with no circles, in
modules of at most 400 lines."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "handlers", "storage")


def our_modules() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    return modules


def import_graph() -> dict[str, set[str]]:
    """Every module's imports of our own modules, wherever they sit (functions, TYPE_CHECKING)."""
    modules = our_modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    if full in modules:
                        targets.add(full)
                    elif node.module in modules:
                        targets.add(node.module)
            elif isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names if alias.name in modules}
        # Importing a.b.c runs a/__init__ and a/b/__init__ first, so they count as imports too,
        # except the packages the importer sits in (already running when it is imported).
        own = {".".join(name.split(".")[:depth]) for depth in range(1, name.count(".") + 1)}
        parents = {
            ".".join(target.split(".")[:depth])
            for target in targets
            for depth in range(1, target.count(".") + 1)
        }
        graph[name] = (targets | (parents & modules.keys())) - own - {name}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (iterative Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [(root, sorted(graph[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, pending = work[-1]
            if pending:
                target = pending.pop()
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, sorted(graph[target])))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_imports_run_handlers_to_bot_to_storage() -> None:
    # bot.app is the composition root: the one place that wires the handlers in.
    wrong = [
        f"{source} imports {target}"
        for source, targets in import_graph().items()
        for target in targets
        if (source.startswith("storage") and not target.startswith("storage"))
        or (
            source.startswith("bot")
            and not source.startswith("bot.app")
            and target.startswith("handlers")
        )
    ]
    assert wrong == []


def test_no_import_circles() -> None:
    assert circles(import_graph()) == []


def test_circles_are_found() -> None:
    # The check above must be able to fail: a three-module loop and a self-contained chain.
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert circles(graph) == [["a", "b", "c"]]


def test_bot_is_folders_with_few_loose_modules() -> None:
    loose = [path.name for path in (ROOT / "bot").glob("*.py") if path.name != "__init__.py"]
    assert len(loose) <= 12, sorted(loose)


# The language parser (its two forms) and the Slack emulator may be longer (issue 16).
LONG_ALLOWED = ("bot/language/text.py", "bot/language/yaml_form.py", "bot/slack_emulator/")
MAX_MODULE_LINES = 400


def test_no_module_in_bot_is_over_400_lines() -> None:
    long = {
        name: lines
        for path in sorted((ROOT / "bot").rglob("*.py"))
        if not (name := path.relative_to(ROOT).as_posix()).startswith(LONG_ALLOWED)
        and (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}
