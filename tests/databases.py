"""Test databases: a SQLite file always, PostgreSQL when reachable (and always under CI)."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

POSTGRES_ADMIN_URL = os.environ.get(
    "BATON_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _postgres_reachable() -> bool:
    try:
        conn = await asyncpg.connect(_asyncpg_dsn(POSTGRES_ADMIN_URL), timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True


_reachable: bool | None = None


def require_postgres() -> None:
    """Skip where PostgreSQL is not running; under CI its absence is a failure, never a skip."""
    global _reachable
    if _reachable is None:
        _reachable = asyncio.run(_postgres_reachable())
    if not _reachable:
        if IN_CI:
            pytest.fail(f"PostgreSQL must be reachable under CI at {POSTGRES_ADMIN_URL}")
        pytest.skip("PostgreSQL is not reachable")


async def create_postgres_database(*, template: str | None = None) -> str:
    """A fresh database; with `template` (a database's URL), a copy of that one."""
    name = f"baton_test_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{make_url(template).database}"' if template else ""
    conn = await asyncpg.connect(_asyncpg_dsn(POSTGRES_ADMIN_URL))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"{copy}')
    finally:
        await conn.close()
    return make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


async def drop_postgres_database(url: str) -> None:
    name = make_url(url).database
    conn = await asyncpg.connect(_asyncpg_dsn(POSTGRES_ADMIN_URL))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def sqlite_url(folder: Path) -> str:
    return f"sqlite:///{folder / 'baton.db'}"
