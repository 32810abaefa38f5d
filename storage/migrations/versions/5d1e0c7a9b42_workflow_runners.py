"""Workflow runners: who may start runs of a workflow (empty: anyone).

Revision ID: 5d1e0c7a9b42
Revises: a83d270d7d23
Create Date: 2026-12-05 13:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "5d1e0c7a9b42"
down_revision = "a83d270d7d23"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing workflows keep today's rule, anyone may run them: an empty list.
    op.add_column(
        "workflow",
        sa.Column("runners", sa.JSON(), nullable=False, server_default=sa.text("'[]'")),
    )


def downgrade() -> None:
    with op.batch_alter_table("workflow") as batch:
        batch.drop_column("runners")
