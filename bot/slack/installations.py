"""Which workspaces Baton works for: OAuth installations into many (SPEC section 9), or the one
workspace of SLACK_BOT_TOKEN; and uninstalling, which stops the work and keeps the data.

Installations live in Baton's database, in slack_sdk's own tables (storage.models declares them,
so Alembic owns them) read and written by slack_sdk's async SQLAlchemy stores.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.errors import SlackApiError
from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import AsyncSQLAlchemyOAuthStateStore
from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import Settings
from bot.core.clock import Clock
from bot.runtime import Runtime
from bot.slack.clients import TokenLookup
from storage.db import SessionFactory, unit_of_work
from storage.models import SLACK_BOTS, SLACK_INSTALLATIONS, SLACK_OAUTH_STATES, Workspace
from storage.sealing import seal, unseal

log = logging.getLogger("baton.installations")

# What Baton asks for when installed; manifest.yml declares the same (a test keeps them equal).
# The history scopes let the deliverer check, after a crash, whether a message already went out
# (joining a public channel first, channels:join, where it is not a member); the read scopes
# let a `#channel` argument be checked against the caller's membership.
BOT_SCOPES = (
    "commands",
    "chat:write",
    "chat:write.public",
    "im:write",
    "im:history",
    "channels:history",
    "channels:join",
    "groups:history",
    "channels:read",
    "groups:read",
    "users:read",
    "usergroups:read",
)
STATE_SECONDS = 600


# The token fields of slack_sdk's Installation and Bot, sealed at rest with BATON_SECRET_KEY.
INSTALLATION_TOKENS = ("bot_token", "bot_refresh_token", "user_token", "user_refresh_token")
BOT_TOKENS = ("bot_token", "bot_refresh_token")


_Stored = TypeVar("_Stored", Installation, Bot)


def _with_tokens(found: _Stored, names: tuple[str, ...], change: Callable[[str], str]) -> _Stored:
    """A copy of `found` with each token field passed through `change` (seal or unseal)."""
    changed = copy.copy(found)
    for name in names:
        value = getattr(changed, name, None)
        if value:
            setattr(changed, name, change(value))
    return changed


class InstallationStore(AsyncSQLAlchemyInstallationStore):
    """slack_sdk's store on Baton's engine and tables; tokens are sealed with BATON_SECRET_KEY
    on the way in and opened on the way out; saving an installation (re)activates its
    workspace."""

    def __init__(
        self,
        client_id: str,
        engine: AsyncEngine,
        sessions: SessionFactory,
        clock: Clock,
        secret_key: str | None = None,
    ) -> None:
        super().__init__(client_id=client_id, engine=engine, logger=log)
        self.metadata = SLACK_INSTALLATIONS.metadata
        self.installations = SLACK_INSTALLATIONS
        self.bots = SLACK_BOTS
        self._sessions = sessions
        self._clock = clock
        self._key = secret_key

    def _seal(self, value: str) -> str:
        return seal(value, self._key)

    def _unseal(self, value: str) -> str:
        return unseal(value, self._key)

    async def async_save(self, installation: Installation) -> None:
        # slack_sdk saves the bot row from the same (sealed) installation.
        await super().async_save(_with_tokens(installation, INSTALLATION_TOKENS, self._seal))
        if installation.team_id:
            await activate(
                self._sessions,
                self._clock,
                team_id=installation.team_id,
                name=installation.team_name or "",
            )

    async def async_save_bot(self, bot: Bot) -> None:
        await super().async_save_bot(_with_tokens(bot, BOT_TOKENS, self._seal))

    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        found = await super().async_find_bot(
            enterprise_id=enterprise_id,
            team_id=team_id,
            is_enterprise_install=is_enterprise_install,
        )
        return None if found is None else _with_tokens(found, BOT_TOKENS, self._unseal)

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        found = await super().async_find_installation(
            enterprise_id=enterprise_id,
            team_id=team_id,
            user_id=user_id,
            is_enterprise_install=is_enterprise_install,
        )
        if found is None:
            return None
        return _with_tokens(found, INSTALLATION_TOKENS, self._unseal)

    async def bot_token(self, team_id: str) -> str | None:
        bot = await self.async_find_bot(enterprise_id=None, team_id=team_id)
        return bot.bot_token if bot is not None else None


def state_store(engine: AsyncEngine) -> AsyncSQLAlchemyOAuthStateStore:
    store = AsyncSQLAlchemyOAuthStateStore(expiration_seconds=STATE_SECONDS, engine=engine)
    store.metadata = SLACK_OAUTH_STATES.metadata
    store.oauth_states = SLACK_OAUTH_STATES
    return store


def oauth_options(settings: Settings, runtime: Runtime) -> dict[str, Any]:
    """AsyncApp's OAuth arguments (none in single-workspace mode): /slack/install and
    /slack/oauth_redirect, installations and states in Baton's database."""
    if not (settings.oauth_enabled and settings.SLACK_CLIENT_ID and settings.SLACK_CLIENT_SECRET):
        return {}
    store = InstallationStore(
        settings.SLACK_CLIENT_ID,
        runtime.engine,
        runtime.sessions,
        runtime.clock,
        settings.BATON_SECRET_KEY,
    )
    oauth = AsyncOAuthSettings(
        client_id=settings.SLACK_CLIENT_ID,
        client_secret=settings.SLACK_CLIENT_SECRET,
        scopes=list(BOT_SCOPES),
        user_scopes=[],
        redirect_uri=f"{settings.public_url}/slack/oauth_redirect",
        install_path="/slack/install",
        redirect_uri_path="/slack/oauth_redirect",
        installation_store=store,
        installation_store_bot_only=True,
        state_store=state_store(runtime.engine),
        state_expiration_seconds=STATE_SECONDS,
        logger=log,
    )
    return {"oauth_settings": oauth, "installation_store_bot_only": True}


def installation_tokens(
    settings: Settings, engine: AsyncEngine, sessions: SessionFactory, clock: Clock
) -> TokenLookup | None:
    """Where the bot token of a workspace comes from: its installation (OAuth), or None for
    SLACK_BOT_TOKEN's one workspace."""
    if not (settings.oauth_enabled and settings.SLACK_CLIENT_ID):
        return None
    store = InstallationStore(
        settings.SLACK_CLIENT_ID, engine, sessions, clock, settings.BATON_SECRET_KEY
    )
    return store.bot_token


async def _workspace_row(session: AsyncSession, team_id: str, now: datetime) -> Workspace:
    """The workspace's row, created if missing in a way two replicas starting together (each
    running this at start-up) cannot both attempt: insert-or-ignore, then read."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    await session.exec(
        insert(Workspace)
        .values(
            team_id=team_id,
            installed_at=now,
            active=True,
            name="",
            domain="",
            escalation_working_days=1,
        )
        .on_conflict_do_nothing(index_elements=["team_id"])
    )
    workspace = await session.get(Workspace, team_id, populate_existing=True)
    assert workspace is not None
    return workspace


async def activate(sessions: SessionFactory, clock: Clock, *, team_id: str, name: str = "") -> None:
    """The workspace has (again) installed Baton: its work resumes where it stopped."""
    now = clock.now()
    async with unit_of_work(sessions) as session:
        workspace = await _workspace_row(session, team_id, now)
        if not workspace.active:
            workspace.installed_at = now
        workspace.active = True
        workspace.uninstalled_at = None
        if name:
            workspace.name = name
        session.add(workspace)
    log.info("workspace %s is installed", team_id)


async def uninstall(runtime: Runtime, team_id: str) -> None:
    """Slack says the app was uninstalled (or its bot token revoked): forget the tokens, stop
    sweeping and delivering for the workspace, keep its workflows, runs and history."""
    now = runtime.clock.now()
    async with unit_of_work(runtime.sessions) as session:
        workspace = await _workspace_row(session, team_id, now)
        workspace.active = False
        workspace.uninstalled_at = now
        session.add(workspace)
        await session.exec(delete(SLACK_BOTS).where(col(SLACK_BOTS.c.team_id) == team_id))
        await session.exec(
            delete(SLACK_INSTALLATIONS).where(col(SLACK_INSTALLATIONS.c.team_id) == team_id)
        )
    log.warning("workspace %s uninstalled Baton; its data is kept", team_id)


async def activate_token_workspace(runtime: Runtime) -> None:
    """Single-workspace mode: the workspace SLACK_BOT_TOKEN belongs to is active (it may have
    been uninstalled and installed again, with a new token, while Baton was down)."""
    token = runtime.settings.SLACK_BOT_TOKEN
    if runtime.settings.oauth_enabled or not token:
        return
    try:
        client = runtime.slack.client_for_token(token)
        team_id = str((await client.auth_test())["team_id"])
    except (SlackApiError, OSError, TimeoutError) as exc:
        log.warning("auth.test failed at start (%s); the workspace keeps its state", exc)
        return
    await activate(runtime.sessions, runtime.clock, team_id=team_id)
