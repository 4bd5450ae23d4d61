"""The embedded back end: SQLite at <state_dir>/runs.db in WAL mode, one connection and
one transaction per call, so one store may be used from many threads while other
processes (a `history` command, the daemon) read or write the same file.

Only open() creates the database. Every later connection opens the very file opened
then, or fails: a database deleted or replaced under a long-running process (the daemon)
is an error naming the path, never a new empty history that would make every stack look
new. Owners are processes of this host: their liveness is pid, host and start time.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from infra_gitops.errors import RunStoreError
from infra_gitops.postgres import DatabaseUrl
from infra_gitops.process import owner_alive
from infra_gitops.store.backend import Transaction, gone_message

BUSY_TIMEOUT_S = 30.0
"""How long a write waits for another process's write transaction (they are short)."""

Migrate = Callable[[sqlite3.Connection, Path], int]


class SqliteRecords:
    database_url: DatabaseUrl | None = None
    id_list_sql = "SELECT value FROM json_each(?)"
    recent_runs_sql = """SELECT runs.* FROM json_each(?) AS wanted
        JOIN runs ON runs.id IN (
            SELECT id FROM runs WHERE stack = wanted.value
            ORDER BY started_at DESC, id DESC LIMIT ?
        )
        ORDER BY runs.stack, runs.started_at DESC, runs.id DESC"""

    def __init__(self, db_path: Path, *, migrate: Migrate, schema_version: int) -> None:
        self.db_path = db_path
        self.where = str(db_path)
        self.lease_lost = threading.Event()  # never set: liveness is per process
        self._owner_token = os.urandom(16).hex()
        self._migrate = migrate
        self._schema_version = schema_version
        self._file_id: tuple[int, int] | None = None
        """(st_dev, st_ino) of the database file opened by open()."""
        self._store_id: str | None = None
        """The random id kept in the database opened by open()."""

    @property
    def owner_token(self) -> str:
        return self._owner_token

    def open(self) -> None:
        with self._connect(create=True) as conn:
            enable_wal(conn)
            self._migrate(conn, self.db_path)
            self._file_id = _file_id(self.db_path)
            self._store_id = _read_store_id(conn)

    def close(self) -> None:
        pass  # nothing stays open between calls

    def renew_lease(self) -> bool:
        return True  # no lease: a process owns its runs while it lives

    def list_param(self, values: list[str]) -> Any:
        return json.dumps(values)

    @contextmanager
    def transaction(self, *, write: bool) -> Iterator[Transaction]:
        with self._connect() as conn, begun(conn, write=write):
            yield conn

    def check(self, tx: Transaction) -> None:
        version = int(tx.execute("PRAGMA user_version").fetchone()[0])
        tx.execute("SELECT 1 FROM runs LIMIT 1").fetchall()
        if version != self._schema_version:
            raise RunStoreError(
                f"the run records {self.db_path} have schema version {version}, "
                f"expected {self._schema_version}: the file was changed by another program"
            )

    def dead_owner_runs(self, tx: Transaction, running: Sequence[Any]) -> list[Any]:
        # Runs owned by other hosts are left alone: their owner's liveness cannot be
        # seen from here (owner_alive says None).
        return [
            row
            for row in running
            if owner_alive(row["owner_pid"], row["owner_host"], row["owner_start"]) is False
        ]

    @contextmanager
    def _connect(self, *, create: bool = False) -> Iterator[sqlite3.Connection]:
        try:
            conn = open_connection(self.db_path, create=create)
        except sqlite3.Error as exc:
            if not create and not self.db_path.exists():
                raise RunStoreError(self._gone_message("was deleted")) from None
            raise RunStoreError(f"cannot open the run records {self.db_path}: {exc}") from exc
        try:
            if not create:
                self._check_same_file()
                if _read_store_id(conn) != self._store_id:
                    raise RunStoreError(self._gone_message("was replaced by another database"))
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
            yield conn
        except sqlite3.Error as exc:
            raise RunStoreError(f"the run records {self.db_path} cannot be used: {exc}") from exc
        finally:
            conn.close()

    def _check_same_file(self) -> None:
        try:
            current = _file_id(self.db_path)
        except OSError:
            raise RunStoreError(self._gone_message("was deleted")) from None
        if current != self._file_id:
            raise RunStoreError(self._gone_message("was replaced by another file"))

    def _gone_message(self, what: str) -> str:
        return gone_message(str(self.db_path), what, restore="the file")


def open_connection(db_path: Path, *, create: bool) -> sqlite3.Connection:
    """A connection to db_path, rows read by column name. Raises sqlite3.Error.

    create False (mode=rw): SQLite would otherwise create an empty database where it is
    missing. isolation_level None: transactions are exactly the BEGIN/COMMIT of begun().
    """
    uri = f"{db_path.absolute().as_uri()}?mode={'rwc' if create else 'rw'}"
    conn = sqlite3.connect(uri, timeout=BUSY_TIMEOUT_S, isolation_level=None, uri=True)
    conn.row_factory = sqlite3.Row
    return conn


@contextmanager
def begun(conn: sqlite3.Connection, *, write: bool) -> Iterator[sqlite3.Connection]:
    """conn (opened with isolation_level None) in one transaction for the block: committed
    at its end, rolled back on an error. IMMEDIATE takes the write lock up front: a
    deferred transaction that later needs it fails with "database is locked" instead of
    waiting its turn. A read is one snapshot for all its statements (a run and its
    artifacts agree)."""
    conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:  # SQLite may have rolled back already on an error
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def enable_wal(conn: sqlite3.Connection) -> None:
    """Switch the file to WAL (persistent in it), so readers run while a writer writes."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            # The switch needs the file to itself and SQLite does not call the busy
            # handler for it: several processes opening a new store at once must retry.
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _read_store_id(conn: sqlite3.Connection) -> str | None:
    row = conn.execute("SELECT id FROM store_identity LIMIT 1").fetchone()
    return None if row is None else str(row[0])


def _file_id(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino
