"""Local accounts: names, password hashes, grants, disabling, and logins with lockout.

Lockout: after LOCK_AFTER failed logins in a row an account is refused for a while, even
with the right password, doubling with every further failure (30 s, 1 min, 2 min, ... at
most 15 min); a successful login, `accounts enable` or `accounts passwd` clears it.
Temporary and growing rather than permanent: a permanent lock would let anyone who knows
a name lock its owner out (OWASP's advice); growing delays still cap an online guesser
at ~100 tries a day. Kept in the database, so every replica counts the same failures.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from infra_gitops.auth import passwords
from infra_gitops.auth.clock import Clock, from_text, to_text
from infra_gitops.auth.db import AuthDatabase
from infra_gitops.auth.errors import AuthError, Reason, Refused
from infra_gitops.auth.rbac import Grant, Principal, parse_grants
from infra_gitops.store.backend import Transaction

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


@dataclass(frozen=True)
class LockoutPolicy:
    after: int = 5
    """Failed logins in a row before the first lock."""
    first: timedelta = timedelta(seconds=30)
    longest: timedelta = timedelta(minutes=15)

    def locked_until(self, failures: int, now: datetime) -> datetime | None:
        if failures < self.after:
            return None
        doublings = min(failures - self.after, 16)
        return now + min(self.longest, self.first * 2**doublings)


@dataclass(frozen=True)
class Account:
    """An account as listed: never its password hash."""

    name: str
    grants: tuple[Grant, ...]
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None
    failed_logins: int
    locked_until: datetime | None = field(default=None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "roles": [str(g) for g in self.grants],
            "disabled": self.disabled,
            "created_at": to_text(self.created_at),
            "last_login_at": self.last_login_at and to_text(self.last_login_at),
            "failed_logins": self.failed_logins,
            "locked_until": self.locked_until and to_text(self.locked_until),
        }


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise AuthError(
            f"account name {name!r}: use 1 to 64 letters, digits, . _ @ -, starting with a "
            "letter or digit"
        )
    return name


def grants_json(grants: tuple[Grant, ...]) -> str:
    return json.dumps([str(g) for g in grants])


def grants_of(text: str) -> tuple[Grant, ...]:
    return parse_grants(json.loads(text))


class Accounts:
    def __init__(self, db: AuthDatabase, clock: Clock, lockout: LockoutPolicy) -> None:
        self._db = db
        self._clock = clock
        self._lockout = lockout

    # ------------------------------------------------------------ management

    def add(self, name: str, password: str, grants: tuple[Grant, ...]) -> Account:
        check_name(name)
        if not grants:
            raise AuthError(f"account {name!r}: give at least one --role (e.g. readonly)")
        password_hash = _new_hash(password)
        now = to_text(self._clock())
        with self._db.transaction(write=True) as tx:
            if _row(tx, name) is not None:
                raise AuthError(f"account {name!r} exists already (see `accounts list`)")
            tx.execute(
                "INSERT INTO auth_accounts (name, password_hash, grants, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?)",
                (name, password_hash, grants_json(grants), now, now),
            )
        return self.get(name)

    def get(self, name: str) -> Account:
        with self._db.transaction(write=False) as tx:
            return _account(self._existing(tx, name))

    def list(self) -> list[Account]:
        with self._db.transaction(write=False) as tx:
            rows = tx.execute("SELECT * FROM auth_accounts ORDER BY name").fetchall()
        return [_account(row) for row in rows]

    def set_password(self, name: str, password: str) -> None:
        """A new password; clears the lockout and ends the account's sessions (whoever
        holds one may be why the password changes)."""
        password_hash = _new_hash(password)
        with self._db.transaction(write=True) as tx:
            self._existing(tx, name)
            tx.execute(
                "UPDATE auth_accounts SET password_hash = ?, failed_logins = 0, "
                "locked_until = NULL, updated_at = ? WHERE name = ?",
                (password_hash, to_text(self._clock()), name),
            )
            _end_sessions(tx, name)

    def set_grants(self, name: str, grants: tuple[Grant, ...]) -> Account:
        if not grants:
            raise AuthError(f"account {name!r}: give at least one --role (e.g. readonly)")
        with self._db.transaction(write=True) as tx:
            self._existing(tx, name)
            tx.execute(
                "UPDATE auth_accounts SET grants = ?, updated_at = ? WHERE name = ?",
                (grants_json(grants), to_text(self._clock()), name),
            )
        return self.get(name)

    def set_disabled(self, name: str, disabled: bool) -> Account:
        """Disable (its sessions end, its tokens stop working) or enable (and unlock)."""
        with self._db.transaction(write=True) as tx:
            self._existing(tx, name)
            tx.execute(
                "UPDATE auth_accounts SET disabled = ?, failed_logins = 0, locked_until = NULL, "
                "updated_at = ? WHERE name = ?",
                (int(disabled), to_text(self._clock()), name),
            )
            if disabled:
                _end_sessions(tx, name)
        return self.get(name)

    def remove(self, name: str) -> int:
        """Remove the account, its sessions and its tokens; returns the tokens removed."""
        with self._db.transaction(write=True) as tx:
            self._existing(tx, name)
            _end_sessions(tx, name)
            tokens = tx.execute("DELETE FROM auth_tokens WHERE account = ?", (name,)).rowcount
            tx.execute("DELETE FROM auth_accounts WHERE name = ?", (name,))
        return int(tokens)

    # ------------------------------------------------------------ login

    def login(self, name: str, password: str) -> Principal:
        """The account's principal when password is right; Refused otherwise, after the
        same argon2 work whatever the reason (see passwords.verify_unknown)."""
        now = self._clock()
        with self._db.transaction(write=False) as tx:
            row = _row(tx, name)
        if row is None:
            passwords.verify_unknown(password)
            raise Refused(Reason.BAD_CREDENTIALS)
        if row["disabled"]:
            passwords.verify_unknown(password)
            raise Refused(Reason.DISABLED)
        locked_until = from_text(row["locked_until"])
        if locked_until is not None and locked_until > now:
            passwords.verify_unknown(password)
            raise Refused(Reason.LOCKED, f"until {to_text(locked_until)}")
        # The slow verify runs outside any transaction: it must not hold SQLite's lock.
        if not passwords.verify(row["password_hash"], password):
            self._failed(name, now)
            raise Refused(Reason.BAD_CREDENTIALS)
        self._succeeded(name, row["password_hash"], password, now)
        return Principal(name, grants_of(row["grants"]), via="password")

    def _failed(self, name: str, now: datetime) -> None:
        with self._db.transaction(write=True) as tx:
            tx.execute(
                "UPDATE auth_accounts SET failed_logins = failed_logins + 1 WHERE name = ?",
                (name,),
            )
            row = _row(tx, name)
            if row is None:
                return
            until = self._lockout.locked_until(int(row["failed_logins"]), now)
            if until is not None:
                tx.execute(
                    "UPDATE auth_accounts SET locked_until = ? WHERE name = ?",
                    (to_text(until), name),
                )

    def _succeeded(self, name: str, old_hash: str, password: str, now: datetime) -> None:
        new_hash = passwords.hash_password(password) if passwords.needs_rehash(old_hash) else None
        with self._db.transaction(write=True) as tx:
            tx.execute(
                "UPDATE auth_accounts SET failed_logins = 0, locked_until = NULL, "
                "last_login_at = ? WHERE name = ?",
                (to_text(now), name),
            )
            if new_hash is not None:
                # Only over the hash just verified: a password changed meanwhile stays.
                tx.execute(
                    "UPDATE auth_accounts SET password_hash = ? "
                    "WHERE name = ? AND password_hash = ?",
                    (new_hash, name, old_hash),
                )

    def _existing(self, tx: Transaction, name: str) -> Any:
        row = _row(tx, name)
        if row is None:
            raise AuthError(f"no account {name!r} in {self._db.where} (see `accounts list`)")
        return row


def _new_hash(password: str) -> str:
    try:
        passwords.check_new(password)
    except passwords.PasswordRejected as exc:
        raise AuthError(str(exc)) from None
    return passwords.hash_password(password)


def _row(tx: Transaction, name: str) -> Any:
    return tx.execute("SELECT * FROM auth_accounts WHERE name = ?", (name,)).fetchone()


def _end_sessions(tx: Transaction, name: str) -> None:
    tx.execute("DELETE FROM auth_sessions WHERE kind = 'local' AND principal = ?", (name,))


def _account(row: Any) -> Account:
    created = from_text(row["created_at"])
    assert created is not None
    return Account(
        name=row["name"],
        grants=grants_of(row["grants"]),
        disabled=bool(row["disabled"]),
        created_at=created,
        last_login_at=from_text(row["last_login_at"]),
        failed_logins=int(row["failed_logins"]),
        locked_until=from_text(row["locked_until"]),
    )
