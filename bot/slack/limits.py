"""Slack's rate limits for Web API methods other than chat.postMessage, kept per process.

chat.postMessage is limited per channel (about one a second) and every replica shares that
pace through the database (bot/notify/pacing.py). The other methods Baton calls are limited per
workspace by their tier, in calls per minute; each process keeps to the tier and pauses a
method after a 429 until its Retry-After. Several replicas together may still exceed a tier:
Slack then answers 429 and the notification is retried after its Retry-After.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from aiohttp import ClientConnectorError
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import AsyncConnectionErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.slack.timers import MonotonicTimer, Timer

# Calls per minute per workspace (https://api.slack.com/apis/rate-limits): tier 2 is 20,
# tier 3 is 50, tier 4 is 100. Methods not listed are taken as tier 3.
PER_MINUTE: dict[str, int] = {
    "chat.update": 50,
    "chat.delete": 50,
    "chat.postEphemeral": 100,
    "conversations.members": 100,
    "conversations.open": 50,
    "conversations.history": 50,
    "conversations.replies": 50,
    "users.info": 100,
    "usergroups.users.list": 20,
    "views.publish": 100,
    "views.open": 100,
    "views.update": 100,
}
DEFAULT_PER_MINUTE = 50
# Paced elsewhere (per channel, in the database) or not rate limited per workspace.
UNPACED = frozenset({"chat.postMessage", "oauth.v2.access", "auth.test"})
WINDOW = 60.0


def retry_after(error: SlackApiError) -> float | None:
    """Seconds Slack asked us to wait, when the error is a rate limit."""
    response = error.response
    if response is None:
        return None
    if response.status_code != 429 and response.get("error") != "ratelimited":
        return None
    try:
        return max(float(response.headers.get("Retry-After", "1")), 0.0)
    except ValueError:
        return 1.0


class MethodBusy(Exception):
    """The method's budget (or a 429's pause) keeps it from being called for `seconds`, longer
    than the caller would wait: it should come back later instead."""

    def __init__(self, method: str, seconds: float) -> None:
        super().__init__(f"{method} is paced for {seconds:.1f} s")
        self.method = method
        self.seconds = seconds


class MethodLimits:
    """At most a tier's calls per minute per (workspace token, method), and a pause after 429.
    Time and waiting come from `timer` (tests move it by hand)."""

    def __init__(self, timer: Timer | None = None) -> None:
        self._timer = timer or MonotonicTimer()
        self._calls: dict[tuple[str, str], deque[float]] = {}
        self._paused_until: dict[tuple[str, str], float] = {}

    async def acquire(self, token: str, method: str, patience: float = math.inf) -> None:
        """Wait for the method's next free call, or raise MethodBusy when that is more than
        `patience` seconds away."""
        if method in UNPACED:
            return
        key = (token, method)
        limit = PER_MINUTE.get(method, DEFAULT_PER_MINUTE)
        while True:
            now = self._timer.time()
            wait = self._paused_until.get(key, 0.0) - now
            calls = self._calls.setdefault(key, deque())
            while calls and now - calls[0] >= WINDOW:
                calls.popleft()
            if wait <= 0 and len(calls) < limit:
                calls.append(now)
                return
            if wait <= 0:
                wait = calls[0] + WINDOW - now
            if wait > patience:
                raise MethodBusy(method, wait)
            await self._timer.sleep(wait)

    def pause(self, token: str, method: str, seconds: float) -> None:
        key = (token, method)
        until = self._timer.time() + seconds
        self._paused_until[key] = max(self._paused_until.get(key, 0.0), until)


class PacedWebClient(AsyncWebClient):
    """An AsyncWebClient that keeps to `MethodLimits` before each call (none: unpaced, as the
    tests against the emulator run), waiting at most `patience` seconds for a free call."""

    def __init__(
        self, *, limits: MethodLimits | None, patience: float = math.inf, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self._limits = limits
        self._patience = patience

    async def api_call(self, api_method: str, **kwargs: Any) -> AsyncSlackResponse:
        if self._limits is None:
            return await super().api_call(api_method, **kwargs)
        token = self.token or ""
        await self._limits.acquire(token, api_method, self._patience)
        try:
            return await super().api_call(api_method, **kwargs)
        except SlackApiError as error:
            seconds = retry_after(error)
            if seconds is not None:
                self._limits.pause(token, api_method, seconds)
            raise


class ConnectionRetries(AsyncConnectionErrorRetryHandler):
    """slack_sdk's connection-error retries, except where a retry could post a message twice.

    A chat.postMessage whose connection broke after it was sent may have been posted; only a
    connection that was never made is retried here. The deliverer resolves the others.
    """

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if request.url.rstrip("/").endswith("chat.postMessage"):
            return isinstance(error, ClientConnectorError)
        return await super()._can_retry_async(
            state=state, request=request, response=response, error=error
        )


def retry_handlers() -> list[AsyncRetryHandler]:
    return [ConnectionRetries(max_retry_count=2)]
