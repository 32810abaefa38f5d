"""The services tier calls services directly: a test driving Baton over HTTP belongs in
tests/e2e."""

from __future__ import annotations

import pytest


@pytest.fixture
def stack() -> None:
    pytest.fail("a services test calls the services: one over HTTP belongs in tests/e2e")
