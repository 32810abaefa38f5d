"""Integration secrets: made here, shown once by `hook add`, stored sealed (storage.sealing).

With `BATON_SECRET_KEY` set, a secret is stored encrypted, so a copy of the database alone does
not let anyone sign as Baton.
"""

from __future__ import annotations

import secrets

from storage.sealing import SEALED_PREFIX, SecretUnavailable, seal, unseal

__all__ = ["SEALED_PREFIX", "SecretUnavailable", "generate", "seal", "unseal"]

SECRET_PREFIX = "bsec_"


def generate() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)
