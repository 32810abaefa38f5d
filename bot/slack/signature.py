"""Slack's v0 request signature, checked on the raw bytes before anything parses them."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from typing import Final

MAX_AGE_SECONDS: Final = 300  # Slack's own advice: refuse requests older than five minutes
TIMESTAMP: Final = re.compile(r"[0-9]{1,12}")  # Unix seconds; anything else cannot be Slack's


def signed_by_slack(
    secret: str, body: bytes, timestamp: str, signature: str, *, now: float | None = None
) -> bool:
    """Whether `signature` is Slack's for this body and a recent timestamp. Any body bytes
    (even ones that are not UTF-8) and any header values are answered, never raised on."""
    if TIMESTAMP.fullmatch(timestamp) is None or not signature:
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > MAX_AGE_SECONDS:
        return False
    base = b"v0:" + timestamp.encode() + b":" + body
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))
