"""Slack requests kept from before their ack until handled (replays and crash recovery).

Revision ID: c4f1a2b3d5e6
Revises: 9c4f2a7d3e18
Create Date: 2026-12-05 14:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "c4f1a2b3d5e6"
down_revision = "9c4f2a7d3e18"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slack_request",
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("trigger_id", sa.String(length=128), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("received_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("done_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=100), nullable=False),
        sa.Column("claimed_until", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("team_id", "trigger_id"),
    )
    op.create_index("ix_slack_request_done_at", "slack_request", ["done_at"])


def downgrade() -> None:
    op.drop_index("ix_slack_request_done_at", table_name="slack_request")
    op.drop_table("slack_request")
