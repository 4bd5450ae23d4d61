"""Random credentials (API tokens, session ids, CSRF secrets), their stored digests and
constant-time comparison.

Tokens and session ids are 32 random bytes: guessing one is hopeless, so a fast digest
(SHA-256) is enough to store them; a slow hash (argon2) protects low-entropy passwords
and would only cost every API call ~50 ms here. The database holds digests only: a copy
of it (a backup, a replica's disk) opens no session and calls no API.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_PREFIX = "igt_"
"""Marks infra-gitops API tokens, so secret scanners (and people) can recognise one."""
RANDOM_BYTES = 32


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(RANDOM_BYTES)


def new_session_id() -> str:
    return secrets.token_urlsafe(RANDOM_BYTES)


def new_secret() -> str:
    return secrets.token_hex(RANDOM_BYTES)


def new_id() -> str:
    """A short public id (a token's, for list and revoke): 12 hex digits."""
    return secrets.token_hex(6)


def digest(credential: str) -> str:
    return hashlib.sha256(credential.encode("utf-8")).hexdigest()


def mac(secret_hex: str, message: str) -> str:
    """HMAC-SHA256 of message under secret, URL-safe hex."""
    return hmac.new(bytes.fromhex(secret_hex), message.encode("utf-8"), hashlib.sha256).hexdigest()


def same(a: str, b: str) -> bool:
    """a == b in time independent of where they differ."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
