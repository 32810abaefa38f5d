"""Alembic owns the schema: the migrations must build exactly what the models describe."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, Table, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables)
from storage.db import create_engine
from storage.migrate import current_revision, upgrade


def _diff(conn: Connection, metadata: MetaData) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def test_migrations_produce_exactly_the_models_schema(empty_database_url: str) -> None:
    engine = create_engine(empty_database_url)
    try:
        await upgrade(engine)
        async with engine.connect() as conn:
            diff = await conn.run_sync(_diff, SQLModel.metadata)
            tables = set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
        assert diff == []
        assert set(SQLModel.metadata.tables) <= tables
        assert await current_revision(engine) is not None
    finally:
        await engine.dispose()


async def test_the_comparison_notices_a_model_the_migrations_lack(engine: AsyncEngine) -> None:
    extra = MetaData()
    for table in SQLModel.metadata.tables.values():
        table.to_metadata(extra)
    Table("not_migrated", extra, Column("id", Integer, primary_key=True))
    async with engine.connect() as conn:
        diff = await conn.run_sync(_diff, extra)
    assert [entry[0] for entry in diff] == ["add_table"]


async def test_upgrade_twice_is_harmless(engine: AsyncEngine) -> None:
    before = await current_revision(engine)
    await upgrade(engine)
    assert await current_revision(engine) == before


async def test_a_workflow_from_before_runners_upgrades_to_anyone_may_run(
    empty_database_url: str,
) -> None:
    engine = create_engine(empty_database_url)
    try:
        await upgrade(engine, "a83d270d7d23")
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO workflow (team_id, name, owner_id, editors, latest_version,"
                    " next_run_number, created_at, updated_at) VALUES ('T1', 'old', 'U1', '[]',"
                    " 1, 1, '2026-11-01 00:00:00+00:00', '2026-11-01 00:00:00+00:00')"
                )
            )
        await upgrade(engine)
        async with engine.connect() as conn:
            runners = (await conn.execute(text("SELECT runners FROM workflow"))).scalar_one()
        assert runners in ([], "[]")
    finally:
        await engine.dispose()
