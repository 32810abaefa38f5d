"""The pure tier has no database: a test asking for one belongs in tests/services or tests/e2e."""

from __future__ import annotations

import pytest


@pytest.fixture
def backend() -> str:
    pytest.fail("a pure test takes no database: it belongs in tests/services or tests/e2e")
