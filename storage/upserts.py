"""Insert statements that tolerate a row someone else created first ("create if missing").

Two requests (or replicas) finding no row and both inserting it would make one of them fail on
the unique constraint; ON CONFLICT DO NOTHING / DO UPDATE lets both succeed on SQLite and
PostgreSQL alike.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel.ext.asyncio.session import AsyncSession

Insert = postgresql.Insert | sqlite.Insert


def insert_for(session: AsyncSession, table: Any) -> Insert:
    """An INSERT into `table` in the session's dialect, so `on_conflict_do_*` is available."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
