"""A connection shared by the short statements of one coordination object.

Each object (a queue, a schedule...) keeps one autocommit connection, used by one
thread at a time, opened again when the database dropped it (a restart): the call that
found it broken fails with a DatabaseError, the next one reconnects.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from infra_gitops import postgres
from infra_gitops.postgres import DatabaseUrl

if TYPE_CHECKING:
    import psycopg


class SharedConnection:
    def __init__(self, url: DatabaseUrl, what: str) -> None:
        self.url = url
        self._what = what
        self._conn: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()

    @contextmanager
    def use(self) -> Iterator[psycopg.Connection[Any]]:
        """The connection (autocommit) for a block; errors become DatabaseError."""
        with self._lock, postgres.translated_errors(self.url, self._what):
            conn = self._conn
            if conn is None or conn.closed or conn.broken:
                if conn is not None:
                    conn.close()
                self._conn = conn = postgres.connect(self.url, autocommit=True)
            yield conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def channel(kind: str, scope: str) -> str:
    """A NOTIFY channel name for kind in scope (a valid identifier, < 64 bytes, any
    scope)."""
    return f"infra_gitops_{kind}_{hashlib.sha256(scope.encode()).hexdigest()[:16]}"


class Listener:
    """A dedicated connection LISTENing on one channel, for waiting on NOTIFYs.

    Waiters always re-read the state they wait for between waits, and wait in short
    slices: a notification missed (while reconnecting, or while another thread of the
    same object waits) costs at most one slice.
    """

    def __init__(self, url: DatabaseUrl, channel: str) -> None:
        self.url = url
        self.channel = channel
        self._conn: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()

    def wait(self, timeout: float) -> bool:
        """Whether a notification came within timeout (False: timed out, or the
        database could not be listened to, and the time was slept instead)."""
        if not self._lock.acquire(blocking=False):
            time.sleep(max(timeout, 0))  # another thread listens: poll instead
            return False
        try:
            return self._wait(timeout)
        finally:
            self._lock.release()

    def _wait(self, timeout: float) -> bool:
        started = time.monotonic()
        try:
            with postgres.translated_errors(self.url, f"listening on {self.channel}"):
                conn = self._listening()
                for _ in conn.notifies(timeout=max(timeout, 0.001), stop_after=1):
                    return True
                return False
        except postgres.DatabaseError:
            self._drop()
            time.sleep(max(timeout - (time.monotonic() - started), 0))
            return False

    def _listening(self) -> psycopg.Connection[Any]:
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            self._drop()
            from psycopg import sql

            conn = postgres.connect(self.url, autocommit=True)
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
            self._conn = conn
        return conn

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        with self._lock:
            self._drop()
