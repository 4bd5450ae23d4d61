"""PostgreSQL, the one module that talks to it: connection URLs, connections, migrations.

Replicas of the daemon share one database (run records, stack locks, the work queue, the
leader lock). The URL comes from `--database-url` or $INFRA_GITOPS_DATABASE_URL; its
password is never shown: `display_url` is the form for logs, errors and `status`.
A password may also come from libpq's own places ($PGPASSWORD, ~/.pgpass,
$PGPASSFILE), which keeps it off the command line altogether.

psycopg is an optional dependency (`pip install 'infra-gitops[postgres]'`): only what
uses a database imports it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from infra_gitops.errors import GitOpsError

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

DATABASE_URL_ENV = "INFRA_GITOPS_DATABASE_URL"
CONNECT_TIMEOUT_S = 10
APPLICATION_NAME = "infra-gitops"
_SCHEMES = ("postgresql", "postgres")
_KEEPALIVES = {
    # A dead peer (a replica whose machine vanished, a database behind a dropped
    # network) is noticed in ~30 s by TCP, not after the kernel's two hours.
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 4,
}


class DatabaseError(GitOpsError):
    """The database cannot be reached or used; the message shows the URL without its
    password."""


@dataclass(frozen=True)
class DatabaseUrl:
    """A postgresql:// URL. str() and repr() hide the password; `dsn` has it."""

    dsn: str

    @classmethod
    def parse(cls, text: str) -> DatabaseUrl:
        """Check that text is a postgresql:// URL (the password is not validated here)."""
        try:
            parts = urlsplit(text.strip())
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError as exc:
            raise DatabaseError(f"the database URL is malformed: {exc}") from None
        if parts.scheme not in _SCHEMES:
            shown = _without_password(text) if "://" in text else "(not a URL)"
            raise DatabaseError(
                f"the database URL must start with postgresql://, got {shown}; for example "
                "postgresql://infra_gitops@db.internal:5432/infra_gitops"
            )
        if not parts.path.strip("/"):
            raise DatabaseError(
                f"the database URL {_without_password(text)} names no database: add "
                "/DBNAME after the host"
            )
        return cls(text.strip())

    @property
    def display(self) -> str:
        return _without_password(self.dsn)

    def __str__(self) -> str:
        return self.display

    def __repr__(self) -> str:
        return f"DatabaseUrl({self.display!r})"


def url_from(option: str | None, environ: Mapping[str, str] | None = None) -> DatabaseUrl | None:
    """The URL from the option, else from $INFRA_GITOPS_DATABASE_URL; None when neither."""
    env = os.environ if environ is None else environ
    text = option or env.get(DATABASE_URL_ENV) or None
    return DatabaseUrl.parse(text) if text else None


def display_url(text: str) -> str:
    """text with any password in a postgresql:// URL replaced by ***."""
    return _without_password(text)


def scrub(text: str, url: DatabaseUrl) -> str:
    """text with url's password removed wherever it appears (driver messages quote it)."""
    password = urlsplit(url.dsn).password
    out = text.replace(url.dsn, url.display)
    if password:
        out = out.replace(password, "***")
    return out


def _without_password(text: str) -> str:
    try:
        parts = urlsplit(text)
    except ValueError:
        return re.sub(r"//[^/@]*@", "//***@", text)
    if parts.password is None:
        return text
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}{port}"))


def _driver() -> Any:
    try:
        import psycopg
    except ImportError:
        raise DatabaseError(
            "PostgreSQL needs the psycopg driver: pip install 'infra-gitops[postgres]'"
        ) from None
    return psycopg


def connect(url: DatabaseUrl, *, autocommit: bool = False) -> psycopg.Connection[Any]:
    """A new connection (rows as dicts), with TCP keepalives and a connect timeout.

    Raises DatabaseError (no password in it) when the server cannot be reached.
    """
    driver = _driver()
    from psycopg.rows import dict_row

    try:
        conn: psycopg.Connection[Any] = driver.connect(
            url.dsn,
            autocommit=autocommit,
            row_factory=dict_row,
            connect_timeout=CONNECT_TIMEOUT_S,
            application_name=APPLICATION_NAME,
            **_KEEPALIVES,
        )
    except driver.Error as exc:
        raise DatabaseError(f"cannot connect to {url.display}: {scrub(str(exc), url)}") from None
    return conn


@contextmanager
def connection(url: DatabaseUrl, *, autocommit: bool = False) -> Iterator[psycopg.Connection[Any]]:
    """connect() for a block; closed at its end. Database errors inside the block become
    DatabaseError with the password scrubbed."""
    conn = connect(url, autocommit=autocommit)
    try:
        with translated_errors(url):
            yield conn
    finally:
        conn.close()


@contextmanager
def translated_errors(url: DatabaseUrl, what: str = "") -> Iterator[None]:
    """psycopg errors in the block become DatabaseError naming the (password-free) URL."""
    driver = _driver()
    try:
        yield
    except driver.Error as exc:
        doing = f" ({what})" if what else ""
        raise DatabaseError(
            f"the database {url.display} failed{doing}: {scrub(str(exc), url).strip()}"
        ) from None


def open_pool(
    url: DatabaseUrl, *, min_size: int, max_size: int, wait_s: float, name: str
) -> ConnectionPool[Any]:
    """An opened connection pool with connect()'s settings (rows as dicts, keepalives,
    connect timeout, application name); a call waits wait_s for a free connection.
    Raises DatabaseError (no password in it) when the server cannot be reached."""
    _driver()
    from psycopg.rows import dict_row
    from psycopg_pool import ConnectionPool, PoolTimeout

    kwargs: dict[str, Any] = {
        "row_factory": dict_row,
        "connect_timeout": CONNECT_TIMEOUT_S,
        "application_name": APPLICATION_NAME,
        **_KEEPALIVES,
    }
    pool: ConnectionPool[Any] = ConnectionPool(
        url.dsn,
        kwargs=kwargs,
        min_size=min_size,
        max_size=max_size,
        timeout=wait_s,
        name=name,
        open=False,
    )
    try:
        pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)
    except PoolTimeout:
        pool.close()
        raise DatabaseError(f"cannot connect to {url.display}") from None
    return pool


# ---------------------------------------------------------------- migrations

Migration = Callable[["psycopg.Connection[Any]"], None]

_VERSIONS_TABLE = """CREATE TABLE IF NOT EXISTS infra_gitops_schema (
    component TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
)"""
_MIGRATION_LOCK = 0x1F0A_0001
"""Advisory lock key held while migrating: replicas starting together migrate once."""


def migrate(url: DatabaseUrl, component: str, steps: Sequence[Migration]) -> int:
    """Bring component's tables to version len(steps) in one transaction; returns the old
    version. steps[n] takes the schema from version n to n + 1: append a function for
    every schema change, never edit a released one. Several processes may call this at
    once: one migrates, the others wait for it and find nothing to do. A database at a
    newer version than these steps is refused (an older replica must not write to it).
    """
    with connection(url) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        conn.execute(_VERSIONS_TABLE)
        row = conn.execute(
            "SELECT version FROM infra_gitops_schema WHERE component = %s", (component,)
        ).fetchone()
        version = int(row["version"]) if row else 0
        if version > len(steps):
            raise DatabaseError(
                f"the {component} tables in {url.display} have schema version {version}, "
                f"written by a newer infra-gitops; this version reads up to "
                f"{len(steps)}: upgrade infra-gitops"
            )
        for step in steps[version:]:
            step(conn)
        conn.execute(
            "INSERT INTO infra_gitops_schema (component, version) VALUES (%s, %s) "
            "ON CONFLICT (component) DO UPDATE SET version = excluded.version, "
            "updated_at = now()",
            (component, len(steps)),
        )
    return version


def schema_version(conn: psycopg.Connection[Any], component: str) -> int:
    """The component's schema version in the database conn is on (0 when absent)."""
    row = conn.execute(
        "SELECT version FROM infra_gitops_schema WHERE component = %s", (component,)
    ).fetchone()
    return int(row["version"]) if row else 0


# ---------------------------------------------------------------- owner leases

OWNER_LEASE_NAMESPACE = 0x1F0A_0002
"""First key of the session advisory lock an open run store holds for its owner token:
its runs, jobs and stack locks are its own while the lock is held; the lock dies with the
connection (a killed replica, a lost network) and then anyone may take them over."""


def take_owner_lease(conn: psycopg.Connection[Any], token: str) -> bool:
    """Hold token's lease on conn (autocommit) for the connection's life; False when
    another connection holds it."""
    row = conn.execute(
        "SELECT pg_try_advisory_lock(%s, hashtext(%s)) AS taken", (OWNER_LEASE_NAMESPACE, token)
    ).fetchone()
    return bool(row and row["taken"])


def owner_lease_free(conn: psycopg.Connection[Any], token: str) -> bool:
    """Whether no connection holds token's lease (its owner is gone). Call inside a
    transaction: the probe's own hold ends with it."""
    row = conn.execute(
        "SELECT pg_try_advisory_xact_lock(%s, hashtext(%s)) AS free", (OWNER_LEASE_NAMESPACE, token)
    ).fetchone()
    return bool(row and row["free"])
