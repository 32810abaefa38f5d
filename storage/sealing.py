"""Secrets at rest: hook secrets and Slack's OAuth tokens, sealed with `BATON_SECRET_KEY`.

With the key set, a secret is stored encrypted (Fernet: AES with an HMAC) behind a `fernet:`
prefix, so a copy of the database alone does not let anyone sign or call Slack as Baton.
Without it the secret is stored as is; values written before a key was set stay readable.
"""

from __future__ import annotations

import base64
import binascii

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SEALED_PREFIX = "fernet:"


class SecretUnavailable(Exception):
    """A stored secret that cannot be opened (sealed, but the key is missing or different)."""


def _fernet(key: str) -> Fernet:
    """A Fernet key as `Fernet.generate_key()` prints it, or any other string stretched into
    one with HKDF (operators often paste a long random password instead)."""
    try:
        if len(base64.urlsafe_b64decode(key.encode())) == 32:
            return Fernet(key.encode())
    except (binascii.Error, ValueError):
        pass
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"baton-integrations", info=b"secret-key"
    ).derive(key.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def seal(secret: str, key: str | None) -> str:
    if not key or secret.startswith(SEALED_PREFIX):  # never sealed twice
        return secret
    return SEALED_PREFIX + _fernet(key).encrypt(secret.encode()).decode()


def unseal(stored: str, key: str | None) -> str:
    if not stored.startswith(SEALED_PREFIX):
        return stored
    if not key:
        raise SecretUnavailable("the secret is encrypted but BATON_SECRET_KEY is not set")
    try:
        return _fernet(key).decrypt(stored[len(SEALED_PREFIX) :].encode()).decode()
    except InvalidToken:
        raise SecretUnavailable("the secret was encrypted with another BATON_SECRET_KEY") from None
