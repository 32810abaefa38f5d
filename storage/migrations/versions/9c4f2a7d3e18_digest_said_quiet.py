"""Digest subscriptions remember whether their last digest said "all quiet".

Revision ID: 9c4f2a7d3e18
Revises: 5d1e0c7a9b42
Create Date: 2026-12-05 14:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "9c4f2a7d3e18"
down_revision = "5d1e0c7a9b42"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing subscriptions have said nothing yet: their next quiet digest still goes out.
    op.add_column(
        "digest_subscription",
        sa.Column("said_quiet", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    with op.batch_alter_table("digest_subscription") as batch:
        batch.drop_column("said_quiet")
