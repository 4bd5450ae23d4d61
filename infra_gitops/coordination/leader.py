"""One leader per scope: the replica that polls Git and decides what to run.

A session advisory lock on a connection of its own: it dies with the leader (a killed
replica, a broken connection), and another replica's next try_acquire() takes it.
A leader whose connection breaks learns it from `lost` (a watchdog pings every second)
and must stop leading at once: another replica may already lead.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from infra_gitops import postgres
from infra_gitops.coordination._db import Watchdog, Watched, connect_vouching, ping
from infra_gitops.postgres import DatabaseUrl

if TYPE_CHECKING:
    import psycopg

NS_LEADER = 0x1F0A_0011
"""First key of the leader lock (the second: hashtext of the scope)."""


class LeaderLock:
    """try_acquire() until it says True; lead while is_leader; stop when `lost` is set.

    owner_token: the replica's identity, written to the leaders table when it takes
    the lock, so `status` can say which replica leads (optional).
    """

    def __init__(self, url: DatabaseUrl, scope: str, *, owner_token: str | None = None) -> None:
        self.url = url
        self.scope = scope
        self.owner_token = owner_token
        self.lost = threading.Event()
        """Set when leadership held is lost (its connection broke); cleared when it is
        acquired again."""
        self._watchdog = Watchdog()
        self._watched: Watched | None = None
        self._mutex = threading.Lock()

    @property
    def is_leader(self) -> bool:
        watched = self._watched
        return watched is not None and not self.lost.is_set()

    def try_acquire(self) -> bool:
        """Take the leader lock if free; True when this replica holds it (already held
        included). Raises DatabaseError when the database cannot be reached."""
        with self._mutex:
            watched = self._watched
            if watched is not None:
                if ping(watched):
                    return True
                self._drop()  # lost: try afresh on a new connection
            conn = connect_vouching(self.url)
            try:
                with postgres.translated_errors(self.url, "taking the leader lock"):
                    if not self._take(conn):
                        conn.close()
                        return False
            except BaseException:
                conn.close()
                raise
            self.lost.clear()
            self._watched = Watched(conn, self.lost)
            self._watchdog.watch(self._watched)
            return True

    def _take(self, conn: psycopg.Connection[Any]) -> bool:
        row = conn.execute(
            "SELECT pg_try_advisory_lock(%s, hashtext(%s)) AS taken", (NS_LEADER, self.scope)
        ).fetchone()
        if not (row and row["taken"]):
            return False
        if self.owner_token is not None:
            conn.execute(
                "INSERT INTO leaders (scope, owner_token) VALUES (%s, %s) ON CONFLICT (scope) "
                "DO UPDATE SET owner_token = excluded.owner_token, since = now()",
                (self.scope, self.owner_token),
            )
        return True

    def release(self) -> None:
        """Stop leading (unlock and close its connection); another replica may lead."""
        with self._mutex:
            self._drop()

    def _drop(self) -> None:
        watched = self._watched
        if watched is None:
            return
        self._watched = None
        self._watchdog.unwatch(watched)
        with watched.lock:
            watched.closed = True
            # Closing the session ends its advisory locks: no unlock statement needed.
            watched.conn.close()

    def __enter__(self) -> LeaderLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
