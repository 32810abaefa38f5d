"""Which workspaces Baton works for: every team except those that uninstalled it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, exists
from sqlmodel import col

from storage.models import Workspace


def installed(team_id: Any) -> ColumnElement[bool]:
    """A filter on `team_id` (a column of the row being selected): its workspace has not
    uninstalled Baton. Single-workspace mode has no workspace rows at all, so a team without
    a row counts as installed. Rows of an uninstalled workspace are kept, not worked on."""
    return ~exists().where(col(Workspace.team_id) == team_id, col(Workspace.active).is_(False))
