"""Requests to poll Git now (a webhook arrived at some replica), for the leader.

Pending requests coalesce into one row per scope: many pushes before the leader looks
make one poll. A NOTIFY wakes the leader at once; it also looks every half second.
"""

from __future__ import annotations

import time

from infra_gitops.coordination._db import Listener, SharedConnection, channel
from infra_gitops.postgres import DatabaseUrl

_POLL_S = 0.5


class PollRequests:
    def __init__(self, url: DatabaseUrl, scope: str) -> None:
        self.url = url
        self.scope = scope
        self._db = SharedConnection(url, "poll requests")
        self._channel = channel("poll", scope)
        self._listener = Listener(url, self._channel)

    def request(self, reason: str) -> None:
        """Ask the leader, whichever replica it is, to poll Git now (any replica)."""
        with self._db.use() as conn:
            conn.execute(
                "INSERT INTO poll_requests (scope, requested_at, reason) VALUES (%s, now(), %s) "
                "ON CONFLICT (scope) DO UPDATE SET requested_at = excluded.requested_at, "
                "reason = excluded.reason",
                (self.scope, reason),
            )
            conn.execute("SELECT pg_notify(%s, %s)", (self._channel, reason[:200]))

    def take(self) -> str | None:
        """The pending request's reason, and it is cleared (leader); None when none."""
        with self._db.use() as conn:
            row = conn.execute(
                "DELETE FROM poll_requests WHERE scope = %s RETURNING reason", (self.scope,)
            ).fetchone()
        return str(row["reason"]) if row else None

    def pending(self) -> bool:
        with self._db.use() as conn:
            row = conn.execute(
                "SELECT 1 AS one FROM poll_requests WHERE scope = %s", (self.scope,)
            ).fetchone()
        return row is not None

    def wait(self, timeout: float) -> bool:
        """Until a request is pending (True) or timeout passes (False); then take()."""
        deadline = time.monotonic() + max(timeout, 0)
        while True:
            if self.pending():
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._listener.wait(min(_POLL_S, left))

    def close(self) -> None:
        self._db.close()
        self._listener.close()
