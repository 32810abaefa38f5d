"""Signatures on hook traffic, both ways (SPEC section 7).

`X-Baton-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>` with the Unix time in
`X-Baton-Timestamp`. Receivers check it on every call; Baton checks callbacks the same way and
refuses a timestamp more than five minutes from its own wall clock, so a captured request cannot
be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

TIMESTAMP_HEADER = "X-Baton-Timestamp"
SIGNATURE_HEADER = "X-Baton-Signature"
VERSION = "v1"
TOLERANCE_SECONDS = 300


class BadSignature(Exception):
    """A request whose signature cannot be trusted; the message says which check failed."""


def signature(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"{VERSION}={digest.hexdigest()}"


def signed_headers(secret: str, body: bytes, now: datetime) -> dict[str, str]:
    timestamp = int(now.timestamp())
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: signature(secret, timestamp, body)}


def verify(
    secret: str, *, timestamp: str | None, signed: str | None, body: bytes, now: datetime
) -> None:
    """Raise BadSignature unless `signed` is this body's signature at a recent `timestamp`.

    The header may carry several comma-separated signatures (a sender rotating secrets); one
    match is enough.
    """
    if not timestamp or not signed:
        raise BadSignature(f"{TIMESTAMP_HEADER} and {SIGNATURE_HEADER} are both required")
    try:
        moment = int(timestamp.strip())
    except ValueError:
        raise BadSignature(f"{TIMESTAMP_HEADER} must be Unix seconds") from None
    if abs(now.timestamp() - moment) > TOLERANCE_SECONDS:
        raise BadSignature(f"{TIMESTAMP_HEADER} is more than 5 minutes from Baton's clock")
    expected = signature(secret, moment, body)
    offered = (part.strip() for part in signed.split(","))
    if not any(hmac.compare_digest(expected.encode(), part.encode()) for part in offered):
        raise BadSignature("the signature does not match the body and timestamp")


# -- callback tokens -------------------------------------------------------------------------
# `<timer id>.<tag>`: the timer row of one readiness of a hook step, and a tag only Baton and
# the integration's secret can make, so a guessed or stale token is simply unknown (404).

MAX_TIMER_ID = 2**31 - 1
_TAG_HEX = 32


def _tag(timer_id: int, secret: str) -> str:
    digest = hmac.new(secret.encode(), f"baton-callback:{timer_id}".encode(), hashlib.sha256)
    return digest.hexdigest()[:_TAG_HEX]


def callback_token(timer_id: int, secret: str) -> str:
    return f"{timer_id}.{_tag(timer_id, secret)}"


def token_timer(token: str) -> int | None:
    """The timer id a well-formed token names (not yet proof that Baton made it)."""
    number, _, tag = token.partition(".")
    if not (number.isascii() and number.isdigit() and 0 < len(number) <= 10):
        return None
    if len(tag) != _TAG_HEX or not all(c in "0123456789abcdef" for c in tag):
        return None
    timer_id = int(number)
    return timer_id if 0 < timer_id <= MAX_TIMER_ID else None


def token_matches(token: str, secret: str) -> bool:
    timer_id = token_timer(token)
    return timer_id is not None and hmac.compare_digest(token, callback_token(timer_id, secret))
