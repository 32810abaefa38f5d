"""Access logs never hold OAuth codes, states or tokens: an install through the real
`/slack/install` and `/slack/oauth_redirect` pages, logged as `baton serve` logs (JSON lines)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from bot.logs import JsonFormatter, redact
from tests.oauth import Installed

pytestmark = pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")


@pytest.fixture
def access_log() -> Iterator[io.StringIO]:
    """uvicorn's access lines at INFO, as `baton serve` writes them."""
    logger = logging.getLogger("uvicorn.access")
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(JsonFormatter())
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def test_the_oauth_redirect_is_logged_without_code_or_state(
    installed: Installed,
    access_log: io.StringIO,
) -> None:
    answer = await installed.install("T0OTHER", "U1EVE")
    assert answer.status_code == 200, answer.text
    query = answer.request.url.params
    code, state = query["code"], query["state"]

    logged = access_log.getvalue()
    [line] = [line for line in logged.splitlines() if "/slack/oauth_redirect" in line]
    assert "code=[redacted]&state=[redacted]" in line
    assert code not in logged and state not in logged


def test_tokens_and_secrets_in_any_text_are_redacted() -> None:
    text = (
        "GET /x?token=abc&bot_token=xoxb-1-2&client_secret=s3&keep=1 "
        "Bearer xoxb-123-456-AbC and xoxe.xoxp-1-Zz9 and xoxe-1-refresh"
    )
    cleaned = redact(text)
    for secret in (
        "abc",
        "xoxb-1-2",
        "s3",
        "xoxb-123-456-AbC",
        "xoxe.xoxp-1-Zz9",
        "xoxe-1-refresh",
    ):
        assert secret not in cleaned, secret
    assert "keep=1" in cleaned
