"""A login in progress, between the redirect to the provider and its callback: the state,
nonce and PKCE verifier, and where to go after, sealed into one opaque value for a
short-lived cookie.

Why a sealed cookie and not a table: replicas behind a load balancer (--database-url)
share no memory, and the callback may reach another replica than the login did. The
value is AES-GCM encrypted and authenticated under a key derived (HKDF) from the OIDC
client secret, which every replica has: it cannot be read (the verifier and the nonce
stay secret) nor forged nor altered, and it is refused after PENDING_TTL.

Single use: the callback clears the cookie, the provider redeems a code once, and each
replica remembers the states it has seen until they expire (a replayed callback to the
same replica is refused even with the cookie kept).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PENDING_TTL_S = 600.0
"""Ten minutes to log in at the provider."""

_CONTEXT = b"infra-gitops oidc pending login v1"
_NONCE_BYTES = 12


@dataclass(frozen=True)
class LoginAttempt:
    """The secrets of one login between the redirect and the callback."""

    state: str = field(repr=False)
    nonce: str = field(repr=False)
    verifier: str = field(repr=False)
    """The PKCE code verifier (43 to 128 characters)."""

    @classmethod
    def new(cls) -> LoginAttempt:
        return cls(secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(48))


@dataclass(frozen=True)
class PendingLogin:
    attempt: LoginAttempt
    return_to: str
    """A path on this site (web/oidc.py keeps it relative)."""
    started_at: float = field(default_factory=time.time)


class PendingLogins:
    """Seals and opens pending logins; remembers the states already used."""

    def __init__(self, client_secret: str, clock: Callable[[], float] = time.time) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_CONTEXT).derive(
            client_secret.encode()
        )
        self._aead = AESGCM(key)
        self._clock = clock
        self._used: dict[str, float] = {}
        self._lock = threading.Lock()

    def seal(self, pending: PendingLogin) -> str:
        attempt = pending.attempt
        plain = json.dumps(
            {
                "s": attempt.state,
                "n": attempt.nonce,
                "v": attempt.verifier,
                "r": pending.return_to,
                "t": pending.started_at,
            }
        ).encode()
        nonce = os.urandom(_NONCE_BYTES)
        sealed = nonce + self._aead.encrypt(nonce, plain, _CONTEXT)
        return base64.urlsafe_b64encode(sealed).decode().rstrip("=")

    def open(self, value: str) -> PendingLogin | None:
        """The pending login sealed in value; None when it was not sealed here, was
        altered, or is older than PENDING_TTL_S."""
        try:
            sealed = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            plain = self._aead.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], _CONTEXT)
            data = json.loads(plain)
            pending = PendingLogin(
                LoginAttempt(str(data["s"]), str(data["n"]), str(data["v"])),
                str(data["r"]),
                float(data["t"]),
            )
        except (binascii.Error, InvalidTag, ValueError, KeyError, TypeError):
            return None
        age = self._clock() - pending.started_at
        return pending if 0 <= age <= PENDING_TTL_S else None

    def use(self, pending: PendingLogin) -> bool:
        """Mark pending's state used; False when it already was (a replay)."""
        now = self._clock()
        with self._lock:
            for state, expires in list(self._used.items()):
                if expires < now:
                    del self._used[state]
            if pending.attempt.state in self._used:
                return False
            self._used[pending.attempt.state] = pending.started_at + PENDING_TTL_S
            return True
