"""The `baton` command."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from bot.config import Settings, SettingsError, load_settings

cli = typer.Typer(
    help="Baton: a Slack bot that conducts your team's recurring work.",
    no_args_is_help=True,
    add_completion=False,
)
db_cli = typer.Typer(help="Database maintenance.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        typer.echo(f"baton: {exc}", err=True)
        raise typer.Exit(2) from None


def _database_ready(settings: Settings) -> None:
    """Stop with one line naming BATON_DATABASE_URL when the database cannot be opened."""
    from bot.app.preflight import check_database

    try:
        asyncio.run(check_database(settings.BATON_DATABASE_URL))
    except SettingsError as exc:
        typer.echo(f"baton: {exc}", err=True)
        raise typer.Exit(2) from None


def _configure_logging() -> None:
    """Structured (JSON) lines on stderr, with the workspace, run and step they concern."""
    from bot.logs import configure

    configure(logging.INFO, sys.stderr)


@cli.command()
def serve() -> None:
    """Run Baton for Slack: the HTTP app (and Socket Mode when SLACK_APP_TOKEN is set)."""
    from bot.app.composition import create_app

    settings = _settings()
    _configure_logging()
    try:
        baton = create_app(settings)
    except SettingsError as exc:
        typer.echo(f"baton: {exc}", err=True)
        raise typer.Exit(2) from None
    _database_ready(settings)
    if settings.SLACK_APP_TOKEN:
        from bot.app.socket_mode import serve_socket_mode

        asyncio.run(serve_socket_mode(baton, settings))
        return
    # log_config=None: uvicorn's own lines go through the JSON handler too. On SIGTERM uvicorn
    # stops accepting, finishes open requests, then Baton.stop finishes in-flight deliveries.
    uvicorn.run(
        baton.web,
        host=settings.BATON_HOST,
        port=settings.BATON_PORT,
        log_level="info",
        log_config=None,
    )


def _run_console(db: Path, script: Path | None, sample: bool, fresh: bool) -> None:
    from bot.console.repl import run_console
    from bot.console.session import ConsoleOptions

    # Only warnings reach stderr, so stdout holds the session alone (and pipes cleanly).
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    options = ConsoleOptions(database=db, sample=sample, fresh=fresh)
    try:
        asyncio.run(run_console(options, script=script, stdin=sys.stdin, stdout=sys.stdout))
    except KeyboardInterrupt:
        typer.echo("")


@cli.command()
def console(
    db: Annotated[Path, typer.Option(help="The SQLite file to keep state in.")] = Path(
        "baton-console.db"
    ),
    script: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="Run its lines first, then read stdin."),
    ] = None,
    sample: Annotated[
        bool, typer.Option(help="Import the sample onboarding workflow on start.")
    ] = True,
    fresh: Annotated[bool, typer.Option(help="Delete the database file first.")] = False,
) -> None:
    """Try Baton with no Slack workspace: a built-in Slack emulator and a terminal."""
    _run_console(db, script, sample, fresh)


@cli.command()
def start() -> None:
    """Serve Slack when its credentials are set; otherwise open the console."""
    settings = _settings()
    if settings.has_slack_credentials:
        serve()
        return
    typer.echo(
        "No Slack credentials (SLACK_BOT_TOKEN, or SLACK_CLIENT_ID and SLACK_CLIENT_SECRET): "
        "starting `baton console` instead.",
        err=True,
    )
    _run_console(Path("baton-console.db"), None, sample=True, fresh=False)


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Apply the database migrations."""
    from storage.db import create_engine
    from storage.migrate import current_revision, upgrade

    settings = _settings()
    _database_ready(settings)

    async def run() -> str | None:
        engine = create_engine(settings.BATON_DATABASE_URL)
        try:
            await upgrade(engine)
            return await current_revision(engine)
        finally:
            await engine.dispose()

    revision = asyncio.run(run())
    typer.echo(f"database at revision {revision}")


def main() -> None:
    cli()


@cli.command("check")
def check_command(path: Path) -> None:
    """Validate a workflow file (YAML, or the text form) and print its plan."""
    from bot.app.cli_workflows import check

    check(path)


@cli.command("import")
def import_command(
    path: Path,
    team: str = typer.Option(..., help="The Slack team id (T…) to store it in"),
    owner: str = typer.Option(..., help="The Slack user id (U…) who owns it"),
) -> None:
    """Store a workflow file as a new version of its workflow."""
    from bot.app.cli_workflows import import_file

    settings = _settings()
    _database_ready(settings)
    import_file(settings, path, team, owner)


@cli.command("export")
def export_command(
    name: str, team: str = typer.Option(..., help="The Slack team id (T…) it lives in")
) -> None:
    """Print a workflow as YAML."""
    from bot.app.cli_workflows import export_workflow

    settings = _settings()
    _database_ready(settings)
    export_workflow(settings, name, team)
