"""The replicas' back end: run records in PostgreSQL (the "records" component), shared by
every daemon replica and read by `history`, `show` and `status` anywhere.

Connections come from a small pool; each call is one transaction. A call whose pooled
connection turns out broken at its first statement (the database restarted since) is
retried once on a fresh one; nothing is retried once a statement of the call ran, so a
write whose commit may have happened is never sent twice.

Owners: opening the store takes an owner lease (a session advisory lock on a dedicated
connection, `postgres.take_owner_lease`) under a random token recorded on every run it
starts. The lease dies with the connection (a killed replica, a lost network), and then
anyone may mark the token's runs interrupted. A watchdog notices a broken lease
connection and sets `lease_lost`: the owner must stop its engines (their runs are now
anyone's to interrupt) and renew_lease() under a new token.

The database opened first is the one used: a database dropped and created again under a
running process (or another one behind the same URL) is an error, as with SQLite.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

from infra_gitops import postgres
from infra_gitops.errors import RunStoreError
from infra_gitops.postgres import DatabaseError, DatabaseUrl
from infra_gitops.store.backend import Transaction, gone_message

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

COMPONENT = "records"
POOL_MIN = 1
POOL_MAX = 8
"""Connections at most: the daemon's parallel stacks plus its passes and HTTP readers."""
WAIT_FOR_CONNECTION_S = 5.0
"""How long a call waits for a pooled connection before failing (the database is down)."""
WATCHDOG_INTERVAL_S = 2.0


def _records_v1(conn: psycopg.Connection[Any]) -> None:
    # The SQLite schema at its current version, in one step: the same tables, columns
    # and meanings (timestamps as ISO text, which sorts as time does), the same indexes.
    for statement in (
        """CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            stack TEXT NOT NULL,
            kind TEXT NOT NULL,
            trigger TEXT NOT NULL,
            status TEXT NOT NULL,
            engine TEXT NOT NULL,
            engine_version TEXT NOT NULL DEFAULT '',
            commit_sha TEXT NOT NULL,
            commit_author TEXT NOT NULL,
            commit_email TEXT NOT NULL,
            commit_date TEXT NOT NULL,
            commit_message TEXT NOT NULL,
            commit_dirty INTEGER NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            duration_s DOUBLE PRECISION,
            count_create INTEGER NOT NULL DEFAULT 0,
            count_update INTEGER NOT NULL DEFAULT 0,
            count_replace INTEGER NOT NULL DEFAULT 0,
            count_delete INTEGER NOT NULL DEFAULT 0,
            count_import INTEGER NOT NULL DEFAULT 0,
            count_move INTEGER NOT NULL DEFAULT 0,
            count_forget INTEGER NOT NULL DEFAULT 0,
            count_outputs INTEGER NOT NULL DEFAULT 0,
            count_deferred INTEGER NOT NULL DEFAULT 0,
            changes TEXT NOT NULL DEFAULT '[]',
            drift TEXT NOT NULL DEFAULT '[]',
            output_changes TEXT NOT NULL DEFAULT '[]',
            error TEXT,
            owner_pid INTEGER NOT NULL,
            owner_host TEXT NOT NULL,
            owner_start TEXT,
            owner_token TEXT,
            actor TEXT
        )""",
        "CREATE INDEX runs_by_stack_newest ON runs (stack, started_at, id)",
        "CREATE INDEX runs_by_newest ON runs (started_at, id)",
        "CREATE INDEX runs_by_commit ON runs (commit_sha)",
        "CREATE INDEX runs_by_status ON runs (status)",
        """CREATE TABLE artifacts (
            run_id TEXT NOT NULL REFERENCES runs (id),
            name TEXT NOT NULL,
            path TEXT NOT NULL,
            created_at TEXT NOT NULL,
            content BYTEA,
            PRIMARY KEY (run_id, name)
        )""",
        """CREATE TABLE stack_state (
            stack TEXT PRIMARY KEY,
            desired_commit TEXT,
            out_of_sync INTEGER NOT NULL DEFAULT 0,
            orphaned INTEGER NOT NULL DEFAULT 0,
            message TEXT NOT NULL DEFAULT '',
            paused_at_commit TEXT,
            pause_reason TEXT,
            renamed_to TEXT,
            updated_at TEXT NOT NULL
        )""",
        """CREATE TABLE bad_commits (
            commit_sha TEXT PRIMARY KEY,
            error TEXT NOT NULL,
            recorded_at TEXT NOT NULL
        )""",
        "CREATE TABLE store_identity (id TEXT NOT NULL)",
    ):
        conn.execute(statement)
    conn.execute("INSERT INTO store_identity (id) VALUES (%s)", (os.urandom(16).hex(),))


def _paused_by(conn: psycopg.Connection[Any]) -> None:
    # As the SQLite store's migration of the same name.
    conn.execute("ALTER TABLE stack_state ADD COLUMN paused_by TEXT")


STEPS: tuple[postgres.Migration, ...] = (_records_v1, _paused_by)
"""postgres.migrate steps of the records component; append, never edit a released one."""


class QmarkTx:
    """A psycopg connection speaking the shared statements' `?` placeholders."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        # The shared statements hold no '?' or '%' of their own.
        return self.conn.execute(sql.replace("?", "%s"), params)


class PostgresRecords:
    id_list_sql = "SELECT unnest(?::text[])"
    recent_runs_sql = """SELECT r.* FROM unnest(?::text[]) AS wanted (stack)
        CROSS JOIN LATERAL (
            SELECT * FROM runs WHERE runs.stack = wanted.stack
            ORDER BY started_at DESC, id DESC LIMIT ?
        ) AS r
        ORDER BY r.stack, r.started_at DESC, r.id DESC"""

    def __init__(self, url: DatabaseUrl, *, max_connections: int = POOL_MAX) -> None:
        self.database_url: DatabaseUrl | None = url
        self.url = url
        self.where = url.display
        self.lease_lost = threading.Event()
        self._max_connections = max(POOL_MIN, max_connections)
        self._pool: ConnectionPool[Any] | None = None
        self._store_id: str | None = None
        self._lease_lock = threading.Lock()
        self._lease_conn: psycopg.Connection[Any] | None = None
        self._owner_token = ""
        self._stop = threading.Event()
        self._watchdog: threading.Thread | None = None

    @property
    def owner_token(self) -> str:
        return self._owner_token

    # ------------------------------------------------------------ open / close

    def open(self) -> None:
        postgres.migrate(self.url, COMPONENT, STEPS)
        with postgres.connection(self.url) as conn:
            row = conn.execute("SELECT id FROM store_identity LIMIT 1").fetchone()
        self._store_id = None if row is None else str(row["id"])
        try:
            self._open_pool()
            self._take_lease()
        except BaseException:
            self.close()
            raise
        self._watchdog = threading.Thread(
            target=self._watch_lease, name="records-lease-watchdog", daemon=True
        )
        self._watchdog.start()

    def close(self) -> None:
        self._stop.set()
        if self._watchdog is not None:
            self._watchdog.join()
        with self._lease_lock:
            if self._lease_conn is not None:
                self._lease_conn.close()
                self._lease_conn = None
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def _open_pool(self) -> None:
        self._pool = postgres.open_pool(
            self.url,
            min_size=POOL_MIN,
            max_size=self._max_connections,
            wait_s=WAIT_FOR_CONNECTION_S,
            name="infra-gitops-records",
        )

    # ------------------------------------------------------------ owner lease

    def _take_lease(self) -> None:
        conn = postgres.connect(self.url, autocommit=True)
        token = os.urandom(16).hex()
        with postgres.translated_errors(self.url, "taking the owner lease"):
            taken = postgres.take_owner_lease(conn, token)
        if not taken:  # a fresh random token: only a hash collision gets here
            conn.close()
            raise DatabaseError(f"cannot take an owner lease in {self.url.display}")
        with self._lease_lock:
            old, self._lease_conn, self._owner_token = self._lease_conn, conn, token
        if old is not None:
            with suppress(Exception):
                old.close()

    def renew_lease(self) -> bool:
        """A new lease under a new token after lease_lost; False while the database is
        unreachable. The old token's runs are then interruptible by anyone."""
        if not self.lease_lost.is_set():
            return True
        try:
            self._take_lease()
        except DatabaseError:
            return False
        self.lease_lost.clear()
        return True

    def _watch_lease(self) -> None:
        while not self._stop.wait(WATCHDOG_INTERVAL_S):
            if not self.lease_lost.is_set() and not self._lease_alive():
                self.lease_lost.set()

    def _lease_alive(self) -> bool:
        import psycopg

        with self._lease_lock:
            conn = self._lease_conn
            if conn is None:
                return False
            try:
                conn.execute("SELECT 1")
            except psycopg.Error:
                return False
        return True

    # ------------------------------------------------------------ calls

    def list_param(self, values: list[str]) -> Any:
        return values

    @contextmanager
    def transaction(self, *, write: bool) -> Iterator[Transaction]:
        with postgres.translated_errors(self.url, "run records"), self._begun(write) as conn:
            try:
                yield QmarkTx(conn)
            except BaseException:
                if not conn.broken:
                    conn.rollback()
                raise
            conn.commit()

    @contextmanager
    def _begun(self, write: bool) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection in a new transaction whose database is the one opened."""
        import psycopg
        from psycopg_pool import PoolTimeout

        pool = self._pool
        if pool is None:
            raise RunStoreError(f"the run store {self.where} is closed (use RunStore.open)")
        for attempt in (1, 2):
            try:
                with pool.connection() as conn:
                    try:
                        self._first_statements(conn, write)
                    except psycopg.OperationalError:
                        if attempt == 1 and conn.broken:
                            # Broken before this call did anything: the database
                            # restarted. Drop the pool's other dead connections too.
                            pool.check()
                            continue
                        raise
                    yield conn
                    return
            except PoolTimeout:
                raise DatabaseError(
                    f"cannot connect to {self.url.display}: no connection within "
                    f"{WAIT_FOR_CONNECTION_S:g} s"
                ) from None

    def _first_statements(self, conn: psycopg.Connection[Any], write: bool) -> None:
        import psycopg

        if not write:
            # One snapshot for all the statements of a read (a run and its artifacts agree).
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        try:
            row = conn.execute("SELECT id FROM store_identity LIMIT 1").fetchone()
        except psycopg.errors.UndefinedTable:
            conn.rollback()
            raise RunStoreError(self._gone("was replaced by an empty database")) from None
        if row is None or row["id"] != self._store_id:
            conn.rollback()
            raise RunStoreError(self._gone("was replaced by another database"))

    def _gone(self, what: str) -> str:
        return gone_message(self.where, what, restore="the database")

    def check(self, tx: Transaction) -> None:
        conn = _conn_of(tx)
        version = postgres.schema_version(conn, COMPONENT)
        conn.execute("SELECT 1 FROM runs LIMIT 1").fetchall()
        if version != len(STEPS):
            raise RunStoreError(
                f"the run records in {self.where} have schema version {version}, "
                f"expected {len(STEPS)}: changed by another program or version"
            )

    def dead_owner_runs(self, tx: Transaction, running: Sequence[Any]) -> list[Any]:
        conn = _conn_of(tx)
        tokens = {row["owner_token"] for row in running if row["owner_token"]}
        free = {token for token in tokens if postgres.owner_lease_free(conn, token)}
        return [row for row in running if row["owner_token"] in free]


def _conn_of(tx: Transaction) -> psycopg.Connection[Any]:
    assert isinstance(tx, QmarkTx)
    return tx.conn
