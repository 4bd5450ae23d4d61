"""The connections the coordination objects use (all through infra_gitops.postgres).

- SharedConnection: each object (a queue, a schedule...) keeps one autocommit
  connection for its short statements, used by one thread at a time, opened again when
  the database dropped it (a restart): the call that found it broken fails with a
  DatabaseError, the next one reconnects.
- Listener: a connection LISTENing for NOTIFYs, for waiters.
- connect_vouching + Watchdog: connections that hold a session advisory lock (a stack
  lock, the leader lock) and are pinged every second; the lock's `lost` event is set
  when its connection breaks.
"""

from __future__ import annotations

import hashlib
import select
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

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
            if conn is None or conn.closed or conn.broken or _dropped_by_server(conn):
                if conn is not None:
                    conn.close()
                self._conn = conn = postgres.connect(self.url, autocommit=True)
            yield conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def _dropped_by_server(conn: psycopg.Connection[Any]) -> bool:
    """Whether an idle connection was closed by the server meanwhile (a restart): then
    it has something to read (the server's goodbye, or EOF) before we sent anything,
    and a probe fails. Checked before each use, so that the first statement after the
    database came back runs on a new connection instead of failing."""
    try:
        readable, _, _ = select.select([conn.fileno()], [], [], 0)
    except (OSError, ValueError):
        return True
    if not readable:
        return False  # the usual case: one syscall, no round trip
    try:
        conn.execute("SELECT 1")
    except Exception:
        return True
    return False


def channel(kind: str, scope: str) -> str:
    """A NOTIFY channel name for kind in scope (a valid identifier, < 64 bytes, any
    scope)."""
    return f"infra_gitops_{kind}_{hashlib.sha256(scope.encode()).hexdigest()[:16]}"


_BURST_S = 0.01
"""After a notification, how long a listener keeps gathering those that follow."""


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
        return bool(self.collect(timeout))

    def collect(self, timeout: float) -> list[str]:
        """The payloads of the notifications that came within timeout: returns soon
        after the first, with those of a burst that came with it (one wake-up for
        many). Empty when none came, or when the database could not be listened to
        (the time was slept instead)."""
        if not self._lock.acquire(blocking=False):
            time.sleep(max(timeout, 0))  # another thread listens: poll instead
            return []
        try:
            return self._collect(timeout)
        finally:
            self._lock.release()

    def _collect(self, timeout: float) -> list[str]:
        started = time.monotonic()
        try:
            with postgres.translated_errors(self.url, f"listening on {self.channel}"):
                conn = self._listening()
                payloads = [
                    n.payload for n in conn.notifies(timeout=max(timeout, 0.001), stop_after=1)
                ]
                if payloads:
                    payloads += [n.payload for n in conn.notifies(timeout=_BURST_S)]
                return payloads
        except postgres.DatabaseError:
            self._drop()
            time.sleep(max(timeout - (time.monotonic() - started), 0))
            return []

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


VOUCH_TIMEOUT_MS = 10_000
"""libpq's tcp_user_timeout on connections that vouch for a lock: a query whose data the
server does not acknowledge within this time (a network gone silent) fails instead of
hanging for the kernel's ~15 minutes of retransmissions, so the lock is reported lost."""


def with_params(url: DatabaseUrl, **params: str | int) -> DatabaseUrl:
    """url with libpq connection parameters added to its query string."""
    sep = "&" if "?" in url.dsn else "?"
    return DatabaseUrl(url.dsn + sep + urlencode({k: str(v) for k, v in params.items()}))


def connect_vouching(url: DatabaseUrl) -> psycopg.Connection[Any]:
    """An autocommit connection for holding a lock: a silent network makes its queries
    fail after VOUCH_TIMEOUT_MS instead of hanging. Errors name url as given."""
    vouching = with_params(url, tcp_user_timeout=VOUCH_TIMEOUT_MS)
    try:
        return postgres.connect(vouching, autocommit=True)
    except postgres.DatabaseError as exc:
        raise postgres.DatabaseError(str(exc).replace(vouching.display, url.display)) from None


PING_S = 1.0


class Watched:
    """A connection whose life a lock depends on: `lost` is set when it breaks."""

    def __init__(self, conn: psycopg.Connection[Any], lost: threading.Event) -> None:
        self.conn = conn
        self.lost = lost
        self.lock = threading.Lock()
        """Held while the connection is used: the watchdog never pings a closed one."""
        self.closed = False


class Watchdog:
    """One thread pinging (SELECT 1) every watched connection every PING_S; a failed
    ping sets its `lost`. The thread runs only while something is watched."""

    def __init__(self, period: float = PING_S) -> None:
        self.period = period
        self._watched: list[Watched] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def watch(self, item: Watched) -> None:
        with self._lock:
            self._watched.append(item)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="coordination-watchdog", daemon=True
                )
                self._thread.start()

    def unwatch(self, item: Watched) -> None:
        with self._lock:
            if item in self._watched:
                self._watched.remove(item)

    def _run(self) -> None:
        while True:
            time.sleep(self.period)
            with self._lock:
                items = list(self._watched)
                if not items:
                    self._thread = None
                    return
            for item in items:
                ping(item)


def ping(item: Watched) -> bool:
    """SELECT 1 on item's connection; False (and `lost` set) when it is broken."""
    with item.lock:
        if item.closed:
            return True
        if item.lost.is_set():
            return False
        try:
            item.conn.execute("SELECT 1")
            return True
        except Exception:  # any failure: the connection cannot vouch for the lock
            item.lost.set()
            return False
