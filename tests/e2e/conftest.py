"""Fixtures of the end-to-end tier beyond the stack (tests/stack.py, a plugin for all tiers)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.oauth import Installed, open_installed


@pytest.fixture
async def installed(database_url: str) -> AsyncIterator[Installed]:
    """Baton in OAuth mode, installed in no workspace yet."""
    async with open_installed(database_url) as installed:
        yield installed
