"""Login sessions, kept server side: a random id (the cookie's value; only its SHA-256
is stored), the principal, created / last seen, an idle and an absolute expiry, and a
CSRF secret per session.

The web layer sets the id in a cookie and must give it these attributes:
    __Host-ig_session=ID; Path=/; Secure; HttpOnly; SameSite=Lax
(`__Host-` and `Secure` need TLS in front; on plain http://127.0.0.1 during development,
name it `ig_session` without them). No Max-Age: the server's expiry is the truth, and a
browser-session cookie is gone when the browser closes. Every state-changing request
(POST, PUT, PATCH, DELETE) carries `csrf_token(session)` in a header or form field, and
the server refuses it unless `csrf_ok(session, value)`; API tokens sent as
`Authorization: Bearer` need no CSRF token (a browser never adds that header by itself).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from infra_gitops.auth import credentials
from infra_gitops.auth.accounts import grants_json, grants_of
from infra_gitops.auth.clock import Clock, from_text, to_text
from infra_gitops.auth.db import AuthDatabase
from infra_gitops.auth.rbac import Principal

TOUCH_EVERY = timedelta(seconds=60)
"""last_seen_at is written at most this often per session (idle expiry's granularity)."""


@dataclass(frozen=True)
class SessionPolicy:
    idle: timedelta = timedelta(hours=1)
    """Ended after this long without a request (OWASP: short for a console that acts)."""
    absolute: timedelta = timedelta(hours=12)
    """Ended this long after login whatever the activity: a working day, then log in."""


@dataclass(frozen=True)
class Session:
    id: str = field(repr=False)
    """The cookie's value: never logged."""
    principal: Principal
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    """The absolute expiry."""
    idle_expires_at: datetime
    csrf_secret: str = field(repr=False)


def csrf_token(session: Session) -> str:
    """The CSRF token of session: an HMAC of the session under its own secret, so it is
    worthless with any other session and cannot be made without the secret."""
    return credentials.mac(session.csrf_secret, "csrf:" + credentials.digest(session.id))


def csrf_ok(session: Session, token: str | None) -> bool:
    """Whether token is session's CSRF token (compared in constant time)."""
    return bool(token) and credentials.same(csrf_token(session), token or "")


class Sessions:
    def __init__(self, db: AuthDatabase, clock: Clock, policy: SessionPolicy) -> None:
        self._db = db
        self._clock = clock
        self.policy = policy

    def create_session(self, principal: Principal) -> Session:
        """A new session for principal, just authenticated (by password: a local
        account, whose grants are read again at every use; by OIDC: the grants given,
        fixed for the session's life)."""
        session_id = credentials.new_session_id()
        now = self._clock()
        local = principal.via != "oidc"
        secret = credentials.new_secret()
        with self._db.transaction(write=True) as tx:
            tx.execute("DELETE FROM auth_sessions WHERE expires_at <= ?", (to_text(now),))
            tx.execute(
                "INSERT INTO auth_sessions (id_sha256, principal, kind, grants, csrf_secret, "
                "created_at, last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    credentials.digest(session_id),
                    principal.name,
                    "local" if local else "oidc",
                    "[]" if local else grants_json(principal.grants),
                    secret,
                    to_text(now),
                    to_text(now),
                    to_text(now + self.policy.absolute),
                ),
            )
        return self._session(session_id, principal, now, now, secret)

    def session_for(self, session_id: str) -> Session | None:
        """The live session with this id, its last-seen time moved on; None when there
        is none, it expired (idle or absolute), or its account is disabled or gone."""
        if not session_id:
            return None
        key = credentials.digest(session_id)
        now = self._clock()
        with self._db.transaction(write=False) as tx:
            row = tx.execute(
                "SELECT s.*, a.grants AS account_grants, a.disabled AS account_disabled "
                "FROM auth_sessions s LEFT JOIN auth_accounts a "
                "ON s.kind = 'local' AND a.name = s.principal WHERE s.id_sha256 = ?",
                (key,),
            ).fetchone()
        if row is None:
            return None
        last_seen = _time(row["last_seen_at"])
        if not self._live(row, last_seen, now):
            self._delete(key)
            return None
        if now - last_seen >= TOUCH_EVERY:
            with self._db.transaction(write=True) as tx:
                tx.execute(
                    "UPDATE auth_sessions SET last_seen_at = ? WHERE id_sha256 = ?",
                    (to_text(now), key),
                )
            last_seen = now
        principal = _principal(row)
        return self._session(
            session_id, principal, _time(row["created_at"]), last_seen, row["csrf_secret"]
        )

    def end_session(self, session_id: str) -> None:
        """Log out: the session is gone (no error when it already was)."""
        self._delete(credentials.digest(session_id))

    def _live(self, row: Any, last_seen: datetime, now: datetime) -> bool:
        if now >= _time(row["expires_at"]) or now >= last_seen + self.policy.idle:
            return False
        if row["kind"] == "local":
            return row["account_grants"] is not None and not row["account_disabled"]
        return True

    def _delete(self, key: str) -> None:
        with self._db.transaction(write=True) as tx:
            tx.execute("DELETE FROM auth_sessions WHERE id_sha256 = ?", (key,))

    def _session(
        self,
        session_id: str,
        principal: Principal,
        created: datetime,
        last_seen: datetime,
        secret: str,
    ) -> Session:
        absolute = created + self.policy.absolute
        return Session(
            id=session_id,
            principal=principal,
            created_at=created,
            last_seen_at=last_seen,
            expires_at=absolute,
            idle_expires_at=min(absolute, last_seen + self.policy.idle),
            csrf_secret=secret,
        )


def _principal(row: Any) -> Principal:
    if row["kind"] == "local":
        return Principal(row["principal"], grants_of(row["account_grants"]), via="session")
    return Principal(row["principal"], grants_of(row["grants"]), via="oidc")


def _time(text: str) -> datetime:
    moment = from_text(text)
    assert moment is not None
    return moment
