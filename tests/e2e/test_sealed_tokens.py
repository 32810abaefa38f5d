"""Slack's OAuth tokens are sealed at rest with BATON_SECRET_KEY: installs store ciphertext and
still work over real HTTP, and the migration seals the tokens already stored."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from sqlalchemy import select

from storage.db import create_engine
from storage.migrate import upgrade
from storage.models import SLACK_BOTS, SLACK_INSTALLATIONS
from storage.sealing import SEALED_PREFIX, unseal
from tests.oauth import OTHER, WORKFLOW, Installed, open_installed

pytestmark = pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")
KEY = "an operator's long random key, for tests only"


@pytest.fixture
async def sealed(database_url: str) -> AsyncIterator[Installed]:
    """OAuth mode with BATON_SECRET_KEY set."""
    async with open_installed(database_url, BATON_SECRET_KEY=KEY) as installed:
        yield installed


async def test_an_installed_token_is_stored_sealed_and_still_works(sealed: Installed) -> None:
    assert (await sealed.install(OTHER, "U1EVE")).status_code == 200
    async with sealed.baton.runtime.engine.connect() as conn:
        stored = (await conn.execute(select(SLACK_BOTS.c.bot_token))).scalars().all()
        installed = (await conn.execute(select(SLACK_INSTALLATIONS.c.bot_token))).scalars().all()
    assert stored and installed
    for token in [*stored, *installed]:
        assert token.startswith(SEALED_PREFIX) and "xoxb-other" not in token
        assert unseal(token, KEY) == "xoxb-other"

    # An API call with the token read back: the emulator accepts only the real token.
    reply = await sealed.command(sealed.other, WORKFLOW.format(user="U1FRANK"), "U1EVE", "C1MAIN")
    assert "onboarding" in reply
    await sealed.command(sealed.other, "run onboarding", "U1EVE", "C1MAIN")
    assert sealed.emulator.messages("C1MAIN", team_id=OTHER)
    assert sealed.emulator.dm("U1FRANK", team_id=OTHER)


async def _store_plain_installation(url: str) -> None:
    engine = create_engine(url)
    try:
        store = AsyncSQLAlchemyInstallationStore(client_id="1234.5678", engine=engine)
        store.installations, store.bots = SLACK_INSTALLATIONS, SLACK_BOTS
        await store.async_save(
            Installation(
                app_id="A1",
                enterprise_id=None,
                team_id="T1",
                user_id="U1",
                bot_token="xoxb-plain",
                bot_refresh_token="xoxe-1-refresh",
                bot_id="B1",
                bot_user_id="UB1",
                bot_scopes="chat:write",
            )
        )
    finally:
        await engine.dispose()


async def _tokens(url: str) -> list[str | None]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            bots = (
                await conn.execute(select(SLACK_BOTS.c.bot_token, SLACK_BOTS.c.bot_refresh_token))
            ).all()
            inst = (await conn.execute(select(SLACK_INSTALLATIONS.c.bot_token))).all()
        return [value for row in [*bots, *inst] for value in row]
    finally:
        await engine.dispose()


@pytest.mark.parametrize("key", [KEY, None])
async def test_the_migration_seals_tokens_already_stored(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch, key: str | None
) -> None:
    engine = create_engine(empty_database_url)
    try:
        await upgrade(engine, "c4f1a2b3d5e6")
    finally:
        await engine.dispose()
    await _store_plain_installation(empty_database_url)
    if key is None:
        monkeypatch.delenv("BATON_SECRET_KEY", raising=False)
    else:
        monkeypatch.setenv("BATON_SECRET_KEY", key)

    engine = create_engine(empty_database_url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()

    tokens = await _tokens(empty_database_url)
    if key is None:  # nothing to seal with: left readable as it was
        assert tokens == ["xoxb-plain", "xoxe-1-refresh", "xoxb-plain"]
        return
    assert all(t is not None and t.startswith(SEALED_PREFIX) for t in tokens)
    assert [unseal(t or "", key) for t in tokens] == ["xoxb-plain", "xoxe-1-refresh", "xoxb-plain"]
