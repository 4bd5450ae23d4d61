"""The auth tables, in the run store's database: SQLite at <state_dir>/runs.db or the
PostgreSQL database replicas share (so every replica knows every account and session).

The "auth" component owns its tables and their versioned migrations on both back ends:
on PostgreSQL through postgres.migrate (the infra_gitops_schema table); on SQLite in a
table of the same name and shape, since PRAGMA user_version is the run store's. Append a
step for every schema change, to both lists; never edit a released one. Statements are
shared by both back ends: `?` placeholders, timestamps as ISO text in UTC (they sort as
time does), rows read by column name.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from infra_gitops import postgres
from infra_gitops.errors import GitOpsError
from infra_gitops.postgres import DatabaseUrl
from infra_gitops.runs import DB_NAME
from infra_gitops.store.backend import Transaction
from infra_gitops.store.postgres import QmarkTx
from infra_gitops.store.sqlite import begun, enable_wal, open_connection

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

COMPONENT = "auth"
POOL_MAX = 4
WAIT_FOR_CONNECTION_S = 5.0

_TABLES = (
    # grants: a JSON list of "ROLE:GLOB". failed_logins and locked_until: the lockout.
    """CREATE TABLE auth_accounts (
        name TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,
        grants TEXT NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0,
        failed_logins INTEGER NOT NULL DEFAULT 0,
        locked_until TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        last_login_at TEXT
    )""",
    # Only the token's SHA-256 is kept (credentials.py says why that is enough).
    """CREATE TABLE auth_tokens (
        id TEXT PRIMARY KEY,
        secret_sha256 TEXT NOT NULL UNIQUE,
        account TEXT NOT NULL,
        name TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        revoked_at TEXT,
        last_used_at TEXT
    )""",
    "CREATE INDEX auth_tokens_by_account ON auth_tokens (account)",
    # A session of a local account (kind 'local': its grants are read from the account
    # at every use) or of a single sign-on user (kind 'oidc': grants from their groups,
    # fixed at login). Only the id's SHA-256 is kept.
    """CREATE TABLE auth_sessions (
        id_sha256 TEXT PRIMARY KEY,
        principal TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('local', 'oidc')),
        grants TEXT NOT NULL DEFAULT '[]',
        csrf_secret TEXT NOT NULL,
        created_at TEXT NOT NULL,
        last_seen_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
    )""",
    "CREATE INDEX auth_sessions_by_principal ON auth_sessions (kind, principal)",
)


def _v1_sqlite(conn: sqlite3.Connection) -> None:
    for statement in _TABLES:
        conn.execute(statement)


def _v1_postgres(conn: psycopg.Connection[Any]) -> None:
    for statement in _TABLES:
        conn.execute(statement)


SQLITE_STEPS: tuple[Callable[[sqlite3.Connection], None], ...] = (_v1_sqlite,)
POSTGRES_STEPS: tuple[postgres.Migration, ...] = (_v1_postgres,)


class AuthDbError(GitOpsError):
    """The auth tables cannot be opened or used; names the database (no password)."""


class AuthDatabase(Protocol):
    where: str

    def transaction(self, *, write: bool) -> AbstractContextManager[Transaction]: ...

    def close(self) -> None: ...


def open_database(state_dir: Path, database_url: DatabaseUrl | None) -> AuthDatabase:
    """The auth tables of the run store's database, created or migrated."""
    if database_url is None:
        return SqliteAuth.open(Path(state_dir) / DB_NAME)
    return PostgresAuth.open(database_url)


# ---------------------------------------------------------------- SQLite


class SqliteAuth:
    """One connection per transaction (as the run store's SQLite back end), WAL, writes
    taking the lock up front."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self.where = str(db_path)

    @classmethod
    def open(cls, db_path: Path) -> SqliteAuth:
        db_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        db = cls(db_path)
        with db._connect(create=True) as conn:
            enable_wal(conn)
            _migrate_sqlite(conn, db.where)
        return db

    def close(self) -> None:
        pass  # nothing stays open between calls

    @contextmanager
    def transaction(self, *, write: bool) -> Iterator[Transaction]:
        with self._connect() as conn, begun(conn, write=write):
            yield conn

    @contextmanager
    def _connect(self, *, create: bool = False) -> Iterator[sqlite3.Connection]:
        try:
            conn = open_connection(self.db_path, create=create)
        except sqlite3.Error as exc:
            raise AuthDbError(f"cannot open the accounts in {self.where}: {exc}") from None
        try:
            yield conn
        except sqlite3.Error as exc:
            raise AuthDbError(f"the accounts in {self.where} cannot be used: {exc}") from None
        finally:
            conn.close()


def _migrate_sqlite(conn: sqlite3.Connection, where: str) -> None:
    with begun(conn, write=True):  # processes opening a new database: one migrates
        conn.execute(
            "CREATE TABLE IF NOT EXISTS infra_gitops_schema (component TEXT PRIMARY KEY, "
            "version INTEGER NOT NULL, updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
        )
        row = conn.execute(
            "SELECT version FROM infra_gitops_schema WHERE component = ?", (COMPONENT,)
        ).fetchone()
        version = int(row[0]) if row else 0
        if version > len(SQLITE_STEPS):
            raise AuthDbError(
                f"the {COMPONENT} tables in {where} have schema version {version}, written "
                f"by a newer infra-gitops; this version reads up to {len(SQLITE_STEPS)}: "
                "upgrade infra-gitops"
            )
        for step in SQLITE_STEPS[version:]:
            step(conn)
        conn.execute(
            "INSERT INTO infra_gitops_schema (component, version) VALUES (?, ?) "
            "ON CONFLICT (component) DO UPDATE SET version = excluded.version, "
            "updated_at = CURRENT_TIMESTAMP",
            (COMPONENT, len(SQLITE_STEPS)),
        )


# ---------------------------------------------------------------- PostgreSQL


class PostgresAuth:
    """A small pool: the web layer checks a session or token on every request."""

    def __init__(self, url: DatabaseUrl, pool: ConnectionPool[Any]) -> None:
        self.url = url
        self.where = url.display
        self._pool = pool

    @classmethod
    def open(cls, url: DatabaseUrl) -> PostgresAuth:
        postgres.migrate(url, COMPONENT, POSTGRES_STEPS)
        pool = postgres.open_pool(
            url,
            min_size=1,
            max_size=POOL_MAX,
            wait_s=WAIT_FOR_CONNECTION_S,
            name="infra-gitops-auth",
        )
        return cls(url, pool)

    def close(self) -> None:
        self._pool.close()

    @contextmanager
    def transaction(self, *, write: bool) -> Iterator[Transaction]:
        with (
            postgres.translated_errors(self.url, "accounts"),
            self._pool.connection() as conn,
            conn.transaction(),
        ):
            yield QmarkTx(conn)
