"""OAuth tokens sealed at rest: wider token columns, and existing tokens encrypted.

With BATON_SECRET_KEY in the environment, every stored bot, user and refresh token not yet
sealed is encrypted with it (a value already sealed is left alone, so running this on a
database where some rows were written sealed is harmless). Without the key nothing is
encrypted: the tokens stay readable as they are and are sealed when next saved with a key set
(see docs/operations.md).

Revision ID: e7b2c9d4f1a0
Revises: c4f1a2b3d5e6
Create Date: 2026-12-06 10:00:00
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from alembic import op

from storage.sealing import SEALED_PREFIX, seal

revision = "e7b2c9d4f1a0"
down_revision = "c4f1a2b3d5e6"
branch_labels = None
depends_on = None

TOKENS = {
    "slack_installations": ("bot_token", "bot_refresh_token", "user_token", "user_refresh_token"),
    "slack_bots": ("bot_token", "bot_refresh_token"),
}


def upgrade() -> None:
    for table, columns in TOKENS.items():
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.alter_column(
                    column, type_=sa.Text(), existing_type=sa.String(200), existing_nullable=True
                )
    key = os.environ.get("BATON_SECRET_KEY")
    if key:
        _seal_all(key)


def _seal_all(key: str) -> None:
    conn = op.get_bind()
    for table, columns in TOKENS.items():
        for column in columns:
            rows = conn.execute(
                sa.text(f"SELECT id, {column} FROM {table} WHERE {column} IS NOT NULL")
            ).all()
            for row_id, value in rows:
                if value and not value.startswith(SEALED_PREFIX):
                    conn.execute(
                        sa.text(f"UPDATE {table} SET {column} = :sealed WHERE id = :id"),
                        {"sealed": seal(value, key), "id": row_id},
                    )


def downgrade() -> None:
    # Sealed tokens stay sealed (longer than 200 characters on PostgreSQL): only a database
    # without a key set can go back.
    for table, columns in TOKENS.items():
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.alter_column(
                    column, type_=sa.String(200), existing_type=sa.Text(), existing_nullable=True
                )
