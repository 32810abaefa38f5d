"""The services tier calls services directly, on the test's database; a test driving Baton over
HTTP belongs in tests/e2e."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.app.composition import build_runtime
from bot.config import Settings
from bot.core.clock import ManualClock
from bot.runtime import Runtime
from tests.stack import START


@pytest.fixture
async def runtime(database_url: str) -> AsyncIterator[Runtime]:
    """The services' shared state at START on a ManualClock. No Slack is called: its API URL
    answers nothing."""
    settings = Settings(
        _env_file=None,
        SLACK_BOT_TOKEN="xoxb-x",
        SLACK_SIGNING_SECRET="s",
        SLACK_API_URL="http://127.0.0.1:9/api/",
        BATON_DATABASE_URL=database_url,
    )
    runtime = build_runtime(settings, ManualClock(START))
    try:
        yield runtime
    finally:
        await runtime.engine.dispose()


@pytest.fixture
def stack() -> None:
    pytest.fail("a services test calls the services: one over HTTP belongs in tests/e2e")
