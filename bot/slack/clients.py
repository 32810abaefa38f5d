"""Web API clients per workspace: one bot token, or tokens from OAuth installations."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable

from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.core.errors import NotFound
from bot.slack.limits import MethodLimits, PacedWebClient, retry_handlers

TokenLookup = Callable[[str], Awaitable[str | None]]

# Shorter than slack_sdk's 30 s, and well inside the deliverer's claim lease, so a call from a
# replica that died has landed or been given up before another replica takes its work over.
TIMEOUT_SECONDS = 10


class SlackClients:
    """`token_lookup` (OAuth) is the only source of tokens when given: a workspace without an
    installation has no client, rather than another workspace's token."""

    def __init__(
        self,
        settings: Settings,
        token_lookup: TokenLookup | None = None,
        *,
        limits: MethodLimits | None = None,
    ) -> None:
        self._settings = settings
        self._token_lookup = token_lookup
        self._limits = limits
        self._clients: dict[tuple[str, float], AsyncWebClient] = {}

    def client_for_token(self, token: str, *, patience: float = math.inf) -> AsyncWebClient:
        """The token's client; it waits at most `patience` seconds for a method's free call
        (see MethodLimits) and raises MethodBusy rather than wait longer."""
        client = self._clients.get((token, patience))
        if client is None:
            client = PacedWebClient(
                limits=self._limits,
                patience=patience,
                token=token,
                base_url=self._settings.SLACK_API_URL,
                timeout=TIMEOUT_SECONDS,
                retry_handlers=retry_handlers(),
            )
            self._clients[(token, patience)] = client
        return client

    async def for_team(self, team_id: str, *, patience: float = math.inf) -> AsyncWebClient:
        if self._token_lookup is not None:
            token = await self._token_lookup(team_id)
        else:
            token = self._settings.SLACK_BOT_TOKEN
        if not token:
            raise NotFound(f"Baton is not installed in workspace {team_id}")
        return self.client_for_token(token, patience=patience)
