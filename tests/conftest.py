"""Shared fixtures: a migrated database of each kind, and the whole stack over HTTP."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import create_engine
from storage.migrate import upgrade
from tests.databases import (
    create_postgres_database,
    drop_postgres_database,
    require_postgres,
    sqlite_url,
)

pytest_plugins = ["tests.stack"]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres":
        require_postgres()
    return str(request.param)


@pytest.fixture
async def empty_database_url(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    """A database with no tables yet."""
    if backend == "sqlite":
        yield sqlite_url(tmp_path)
        return
    url = await create_postgres_database()
    try:
        yield url
    finally:
        await drop_postgres_database(url)


async def _migrate(url: str) -> None:
    engine = create_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()  # on SQLite this also checkpoints the WAL into the file


class MigratedTemplates:
    """One database of each kind migrated once per session; each test gets a copy (a file
    copy, or PostgreSQL's CREATE DATABASE ... TEMPLATE), not a migration run of its own."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._urls: dict[str, str] = {}

    def url(self, backend: str) -> str:
        if backend not in self._urls:
            if backend == "sqlite":
                url = sqlite_url(self.folder)
            else:
                url = asyncio.run(create_postgres_database())
            self._urls[backend] = url  # before migrating, so a failed one is dropped too
            asyncio.run(_migrate(url))
        return self._urls[backend]

    def close(self) -> None:
        if "postgres" in self._urls:
            asyncio.run(drop_postgres_database(self._urls["postgres"]))


@pytest.fixture(scope="session")
def migrated_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MigratedTemplates]:
    templates = MigratedTemplates(tmp_path_factory.mktemp("template"))
    try:
        yield templates
    finally:
        templates.close()


@pytest.fixture
def migrated_template(backend: str, migrated_templates: MigratedTemplates) -> str:
    # A plain fixture: it may run its own event loop to migrate, as none is running here.
    return migrated_templates.url(backend)


@pytest.fixture
async def database_url(backend: str, migrated_template: str, tmp_path: Path) -> AsyncIterator[str]:
    """A database migrated to the newest schema."""
    if backend == "sqlite":
        shutil.copyfile(str(make_url(migrated_template).database), tmp_path / "baton.db")
        yield sqlite_url(tmp_path)
        return
    url = await create_postgres_database(template=migrated_template)
    try:
        yield url
    finally:
        await drop_postgres_database(url)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()
