"""API tokens for scripts and curl: `igt_` + 32 random bytes, shown once at creation,
kept as their SHA-256 only, acting as their account (its grants at the time of each
call; a disabled or removed account's tokens stop working), with a required expiry no
longer than the policy's maximum, revocable by id."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from infra_gitops.auth import credentials
from infra_gitops.auth.accounts import grants_of
from infra_gitops.auth.clock import Clock, from_text, to_text
from infra_gitops.auth.db import AuthDatabase
from infra_gitops.auth.errors import AuthError, Reason, Refused
from infra_gitops.auth.rbac import Principal

DEFAULT_MAX_LIFETIME = timedelta(days=365)
TOUCH_EVERY = timedelta(seconds=60)
"""last_used_at is written at most this often per token: not a write per API call."""
_LIFETIME = re.compile(r"(\d+)([mhdw])")
_UNIT = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}
_UNIT["w"] = timedelta(weeks=1)
_SHAPE = re.compile(re.escape(credentials.TOKEN_PREFIX) + r"[A-Za-z0-9_-]{43}")


def parse_lifetime(text: str) -> timedelta:
    """ "90m", "12h", "30d" or "8w"; ValueError otherwise."""
    match = _LIFETIME.fullmatch(text.strip())
    if match is None or int(match[1]) < 1:
        raise ValueError(f"expected a lifetime like 12h, 30d or 8w, got {text!r}")
    return int(match[1]) * _UNIT[match[2]]


@dataclass(frozen=True)
class TokenInfo:
    """A token as listed: never its secret."""

    id: str
    name: str
    account: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    def state(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.expires_at <= now else "active"

    def to_dict(self, now: datetime) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "account": self.account,
            "created_at": to_text(self.created_at),
            "expires_at": to_text(self.expires_at),
            "revoked_at": self.revoked_at and to_text(self.revoked_at),
            "last_used_at": self.last_used_at and to_text(self.last_used_at),
            "state": self.state(now),
        }


@dataclass(frozen=True)
class NewToken:
    info: TokenInfo
    secret: str = field(repr=False)
    """The token itself: give it to its user now; it is never shown again."""


class Tokens:
    def __init__(self, db: AuthDatabase, clock: Clock, max_lifetime: timedelta) -> None:
        self._db = db
        self._clock = clock
        self.max_lifetime = max_lifetime

    def create(self, account: str, lifetime: timedelta, name: str = "") -> NewToken:
        if lifetime <= timedelta(0):
            raise AuthError("a token's expiry must be in the future")
        if lifetime > self.max_lifetime:
            raise AuthError(
                f"a token may live at most {self.max_lifetime.days} days here "
                f"(asked: {lifetime.days} days): choose a shorter --expires"
            )
        if len(name) > 100 or not name.isprintable():
            raise AuthError("the token's --name must be printable and at most 100 characters")
        secret = credentials.new_token()
        now = self._clock()
        token_id = credentials.new_id()
        with self._db.transaction(write=True) as tx:
            if (
                tx.execute("SELECT 1 FROM auth_accounts WHERE name = ?", (account,)).fetchone()
                is None
            ):
                raise AuthError(f"no account {account!r} in {self._db.where} (see `accounts list`)")
            tx.execute(
                "INSERT INTO auth_tokens (id, secret_sha256, account, name, created_at, "
                "expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    token_id,
                    credentials.digest(secret),
                    account,
                    name,
                    to_text(now),
                    to_text(now + lifetime),
                ),
            )
        return NewToken(self._get(token_id), secret)

    def list(self, account: str | None = None) -> list[TokenInfo]:
        sql = "SELECT * FROM auth_tokens"
        params: tuple[str, ...] = ()
        if account is not None:
            sql, params = sql + " WHERE account = ?", (account,)
        with self._db.transaction(write=False) as tx:
            rows = tx.execute(sql + " ORDER BY created_at, id", params).fetchall()
        return [_info(row) for row in rows]

    def revoke(self, token_id: str) -> TokenInfo:
        """Revoke by id (again: no change); AuthError for an unknown id."""
        with self._db.transaction(write=True) as tx:
            tx.execute(
                "UPDATE auth_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (to_text(self._clock()), token_id),
            )
        return self._get(token_id)

    def authenticate(self, token: str) -> Principal:
        """The principal of token; Refused with the reason otherwise."""
        if not _SHAPE.fullmatch(token):
            raise Refused(Reason.MALFORMED)
        now = self._clock()
        with self._db.transaction(write=False) as tx:
            row = tx.execute(
                "SELECT t.*, a.grants AS account_grants, a.disabled AS account_disabled "
                "FROM auth_tokens t JOIN auth_accounts a ON a.name = t.account "
                "WHERE t.secret_sha256 = ?",
                (credentials.digest(token),),
            ).fetchone()
        # Looked up by digest: any timing of the lookup is about the digest, which tells
        # nothing usable about the token.
        if row is None:
            raise Refused(Reason.UNKNOWN_TOKEN)
        info = _info(row)
        if info.revoked_at is not None:
            raise Refused(Reason.REVOKED, f"token {info.id}")
        if info.expires_at <= now:
            raise Refused(Reason.EXPIRED, f"token {info.id}")
        if row["account_disabled"]:
            raise Refused(Reason.DISABLED, f"token {info.id}")
        if info.last_used_at is None or now - info.last_used_at >= TOUCH_EVERY:
            with self._db.transaction(write=True) as tx:
                tx.execute(
                    "UPDATE auth_tokens SET last_used_at = ? WHERE id = ?", (to_text(now), info.id)
                )
        return Principal(info.account, grants_of(row["account_grants"]), via="token")

    def _get(self, token_id: str) -> TokenInfo:
        with self._db.transaction(write=False) as tx:
            row = tx.execute("SELECT * FROM auth_tokens WHERE id = ?", (token_id,)).fetchone()
        if row is None:
            raise AuthError(
                f"no token with id {token_id!r} in {self._db.where} (see `tokens list`)"
            )
        return _info(row)


def _info(row: Any) -> TokenInfo:
    created, expires = from_text(row["created_at"]), from_text(row["expires_at"])
    assert created is not None and expires is not None
    return TokenInfo(
        id=row["id"],
        name=row["name"],
        account=row["account"],
        created_at=created,
        expires_at=expires,
        revoked_at=from_text(row["revoked_at"]),
        last_used_at=from_text(row["last_used_at"]),
    )
