"""The `baton` command."""

from __future__ import annotations

import asyncio
import logging
import sys

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


def _configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )


@cli.command()
def serve() -> None:
    """Run Baton for Slack: the HTTP app (and Socket Mode when SLACK_APP_TOKEN is set)."""
    from bot.app import create_app

    settings = _settings()
    _configure_logging()
    try:
        baton = create_app(settings)
    except SettingsError as exc:
        typer.echo(f"baton: {exc}", err=True)
        raise typer.Exit(2) from None
    if settings.SLACK_APP_TOKEN:
        from bot.socket_mode import serve_socket_mode

        asyncio.run(serve_socket_mode(baton, settings))
        return
    uvicorn.run(baton.web, host=settings.BATON_HOST, port=settings.BATON_PORT, log_level="info")


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Apply the database migrations."""
    from storage.db import create_engine
    from storage.migrate import current_revision, upgrade

    settings = _settings()

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
