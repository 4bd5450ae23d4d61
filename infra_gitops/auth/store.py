"""AuthStore: accounts, API tokens and sessions on one database, opened for a command or
for the daemon's life. `with AuthStore.open(state_dir, database_url) as auth:` then
`auth.accounts`, `auth.tokens`, `auth.sessions`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from infra_gitops.auth.accounts import Accounts, LockoutPolicy
from infra_gitops.auth.clock import Clock, utc_now
from infra_gitops.auth.db import open_database
from infra_gitops.auth.sessions import SessionPolicy, Sessions
from infra_gitops.auth.tokens import DEFAULT_MAX_LIFETIME, Tokens
from infra_gitops.postgres import DatabaseUrl


@dataclass(frozen=True)
class AuthPolicy:
    lockout: LockoutPolicy = field(default_factory=LockoutPolicy)
    sessions: SessionPolicy = field(default_factory=SessionPolicy)
    token_max_lifetime: timedelta = DEFAULT_MAX_LIFETIME


@dataclass(frozen=True)
class AuthStore:
    accounts: Accounts
    tokens: Tokens
    sessions: Sessions
    where: str
    """The database, for messages: a path or a URL without its password."""

    @classmethod
    @contextmanager
    def open(
        cls,
        state_dir: Path,
        database_url: DatabaseUrl | None = None,
        *,
        policy: AuthPolicy | None = None,
        clock: Clock = utc_now,
    ) -> Iterator[AuthStore]:
        """The auth tables of the run store's database (SQLite in state_dir, or
        database_url), created or migrated; closed on exit."""
        policy = policy or AuthPolicy()
        db = open_database(state_dir, database_url)
        try:
            yield cls(
                accounts=Accounts(db, clock, policy.lockout),
                tokens=Tokens(db, clock, policy.token_max_lifetime),
                sessions=Sessions(db, clock, policy.sessions),
                where=db.where,
            )
        finally:
            db.close()
