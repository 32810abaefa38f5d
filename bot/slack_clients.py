"""Web API clients per workspace: one bot token, or tokens from OAuth installations."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.errors import NotFound

TokenLookup = Callable[[str], Awaitable[str | None]]


class SlackClients:
    def __init__(self, settings: Settings, token_lookup: TokenLookup | None = None) -> None:
        self._settings = settings
        self._token_lookup = token_lookup
        self._clients: dict[str, AsyncWebClient] = {}

    def _client(self, token: str) -> AsyncWebClient:
        client = self._clients.get(token)
        if client is None:
            client = AsyncWebClient(token=token, base_url=self._settings.SLACK_API_URL)
            self._clients[token] = client
        return client

    async def for_team(self, team_id: str) -> AsyncWebClient:
        if self._token_lookup is not None:
            token = await self._token_lookup(team_id)
            if token:
                return self._client(token)
        if self._settings.SLACK_BOT_TOKEN:
            return self._client(self._settings.SLACK_BOT_TOKEN)
        raise NotFound(f"Baton is not installed in workspace {team_id}")
