"""One signed POST to an integration, through the SSRF guard, with a hard time limit."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from bot.integrations import ssrf
from bot.integrations.signing import signed_headers
from bot.slack.timers import Timer

MAX_ANSWER_BYTES = 65_536
USER_AGENT = "Baton-Hooks/1"


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]
    seconds: float


class Unreachable(Exception):
    """No HTTP answer: refused by the guard, unresolvable, no connection, or too slow.

    `retryable` is False only for the guard's refusal: calling again cannot change it.
    """

    def __init__(self, reason: str, *, retryable: bool) -> None:
        super().__init__(reason)
        self.retryable = retryable


async def post_signed(
    url: str,
    body: bytes,
    *,
    secret: str,
    now: datetime,
    allow_private: bool,
    time_limit: float,
    timer: Timer,
    resolver: ssrf.Resolver = ssrf.system_resolver,
    headers: dict[str, str] | None = None,
) -> Answer:
    """POST `body` signed with `secret` at wall time `now`; the whole exchange, from resolving
    the host to the answer's last byte, must finish within `time_limit` seconds of `timer`."""
    started = time.monotonic()

    async def exchange() -> Answer:
        target = await _checked(url, allow_private, resolver)
        sent = {
            "Host": target.host_header,
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            **signed_headers(secret, body, now),
            **(headers or {}),
        }
        return await _exchange(target, body, sent, started)

    try:
        return await _within(timer, time_limit, exchange())
    except TimeoutError:
        raise Unreachable(f"gave no answer within {time_limit:g}s", retryable=True) from None
    except httpx.HTTPError as exc:
        detail = str(exc) or type(exc).__name__
        raise Unreachable(f"could not be reached: {detail}", retryable=True) from None


async def _within(timer: Timer, seconds: float, work: Coroutine[Any, Any, Answer]) -> Answer:
    """`work`'s answer, or TimeoutError once `seconds` of the timer have passed (real seconds
    in production; a test's ManualTimer moves only when told)."""
    call = asyncio.ensure_future(work)
    limit = asyncio.ensure_future(timer.sleep(seconds))
    try:
        await asyncio.wait((call, limit), return_when=asyncio.FIRST_COMPLETED)
    finally:
        limit.cancel()
        if not call.done():
            call.cancel()
            await asyncio.gather(call, return_exceptions=True)
    if call.cancelled():
        raise TimeoutError
    return call.result()


async def _checked(url: str, allow_private: bool, resolver: ssrf.Resolver) -> ssrf.Target:
    try:
        return await ssrf.check(url, allow_private=allow_private, resolver=resolver)
    except ssrf.Unresolved as exc:
        raise Unreachable(f"could not be reached: {exc}", retryable=True) from None
    except ssrf.Refused as exc:
        raise Unreachable(f"was not called: {exc}", retryable=False) from None


async def _exchange(
    target: ssrf.Target, body: bytes, headers: dict[str, str], started: float
) -> Answer:
    # trust_env=False: a proxy from the environment would connect somewhere the guard never saw.
    # No timeout of httpx's own: the caller's time limit bounds the whole exchange.
    async with (
        httpx.AsyncClient(timeout=None, follow_redirects=False, trust_env=False) as client,
        client.stream(
            "POST",
            target.pinned_url,
            content=body,
            headers=headers,
            extensions={"sni_hostname": target.url.host},
        ) as response,
    ):
        received = bytearray()
        async for chunk in response.aiter_bytes():
            received += chunk
            if len(received) >= MAX_ANSWER_BYTES:
                break
        return Answer(
            status=response.status_code,
            body=bytes(received[:MAX_ANSWER_BYTES]),
            headers={key.lower(): value for key, value in response.headers.items()},
            seconds=time.monotonic() - started,
        )
