"""Checks made before Baton starts, so a setting that cannot work stops start-up with one line
naming it (SPEC section 9) rather than a traceback from deep inside a driver."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.config import SettingsError
from storage.db import create_engine

CONNECT_SECONDS = 10.0


def _reason(exc: BaseException) -> str:
    """The driver's own words, first line only (SQLAlchemy wraps them in `orig`)."""
    cause = getattr(exc, "orig", None) or exc.__cause__ or exc
    words = str(cause).strip().splitlines()
    return words[0] if words else type(cause).__name__


def _missing_folder(database: str) -> Path | None:
    """The folder a SQLite file would go in, when it does not exist (SQLite makes the file,
    never the folder)."""
    folder = Path(database).expanduser().absolute().parent
    return None if folder.is_dir() else folder


async def check_database(url: str) -> None:
    """Open BATON_DATABASE_URL once; SettingsError says why it cannot be used."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise SettingsError(f"BATON_DATABASE_URL is malformed: cannot read {url!r}") from None
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        folder = _missing_folder(parsed.database)
        if folder is not None:
            raise SettingsError(
                f"BATON_DATABASE_URL: cannot open {shown}: folder {folder} does not exist"
            )
    engine = create_engine(url)
    try:
        async with asyncio.timeout(CONNECT_SECONDS), engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except TimeoutError:
        raise SettingsError(
            f"BATON_DATABASE_URL: cannot connect to {shown}: no answer within {CONNECT_SECONDS:g}s"
        ) from None
    except Exception as exc:  # any driver's error: the point is one line naming the setting
        verb = "open" if parsed.get_backend_name() == "sqlite" else "connect to"
        raise SettingsError(f"BATON_DATABASE_URL: cannot {verb} {shown}: {_reason(exc)}") from None
    finally:
        await engine.dispose()
