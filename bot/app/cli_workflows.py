"""`baton check | import | export`: workflow files from the shell (workflow-as-code)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import typer

from bot.app.composition import build_runtime
from bot.config import Settings
from bot.core.clock import SystemClock
from bot.core.errors import BatonError
from bot.language import (
    DefinitionError,
    WorkflowDef,
    describe_plan,
    format_yaml,
    make_plan,
    parse_text,
    parse_yaml,
)
from bot.people.permissions import Actor
from bot.workflows import definitions as workflows
from storage.migrate import upgrade

# What a file copied from Slack starts with: `/baton define onboarding Onboard a new hire`.
SLASH_DEFINE = re.compile(r"/baton\s+define\s+", re.IGNORECASE)


def read_definition(path: Path) -> WorkflowDef:
    """A `.yml`/`.yaml` file in Baton's YAML form, or a text file whose first line is
    `<name> <title>` (optionally written as the slash command, `/baton define <name> <title>`)
    followed by one step per line."""
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".yml", ".yaml"):
        return parse_yaml(text)
    first, _, body = text.partition("\n")
    first = first.strip()
    if (command := SLASH_DEFINE.match(first)) is not None:
        first = first[command.end() :]
    name, _, title = first.partition(" ")
    # The body goes in after an empty line, so problems name the file's own line numbers.
    return parse_text(name, title.strip() or name, "\n" + body)


def _load(path: Path) -> WorkflowDef:
    try:
        return read_definition(path)
    except OSError as exc:
        typer.echo(f"baton: cannot read {path}: {exc.strerror}", err=True)
        raise typer.Exit(2) from None
    except DefinitionError as exc:
        typer.echo(f"{path}: the workflow has problems:\n{exc}", err=True)
        raise typer.Exit(1) from None


def check(path: Path) -> None:
    """Validate a workflow file and print its plan."""
    defn = _load(path)
    typer.echo(f"{defn.name}: {defn.title} ({len(defn.steps)} steps)")
    typer.echo(describe_plan(make_plan(defn), defn))


def import_file(settings: Settings, path: Path, team: str, owner: str) -> None:
    """Store a workflow file as a new version, as `owner` in workspace `team`."""
    defn = _load(path)

    async def run() -> workflows.Defined:
        runtime = build_runtime(settings, SystemClock())
        try:
            await upgrade(runtime.engine)
            return await workflows.define(runtime, Actor(team, owner, is_admin=True), defn)
        finally:
            await runtime.engine.dispose()

    try:
        result = asyncio.run(run())
    except (BatonError, DefinitionError) as exc:
        typer.echo(f"baton: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{defn.name}: version {result.version} stored in {team}")


def export_workflow(settings: Settings, name: str, team: str) -> None:
    """Print a workflow's current version as YAML."""

    async def run() -> str:
        runtime = build_runtime(settings, SystemClock())
        try:
            _, defn = await workflows.get_definition(runtime, team, name)
            return format_yaml(defn)
        finally:
            await runtime.engine.dispose()

    try:
        typer.echo(asyncio.run(run()), nl=False)
    except BatonError as exc:
        typer.echo(f"baton: {exc}", err=True)
        raise typer.Exit(1) from None
