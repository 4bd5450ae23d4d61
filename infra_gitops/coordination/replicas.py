"""The replicas of one scope: who is alive, and which leads (for status, metrics, bench).

A replica is alive while its owner lease (held by its run store's connection) is held:
the same liveness as everything else here. Rows of replicas gone for a while are
removed by whoever lists them.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime

from infra_gitops import postgres
from infra_gitops.coordination._db import SharedConnection
from infra_gitops.postgres import DatabaseUrl

FORGET_AFTER_S = 600.0
"""A dead replica's row is kept this long after it was last seen: alive() does not list
it, but the row lets the message of an interrupted job name the dead replica's host
and pid."""


@dataclass(frozen=True)
class ReplicaInfo:
    owner_token: str
    host: str
    pid: int
    started_at: datetime
    last_seen: datetime
    leader: bool = False
    """It took the leader lock last and is alive (LeaderLock with its owner_token)."""


class Replicas:
    def __init__(self, url: DatabaseUrl, scope: str) -> None:
        self.url = url
        self.scope = scope
        self._db = SharedConnection(url, "replicas")
        self._token: str | None = None

    def register(self, owner_token: str, host: str, pid: int) -> None:
        """This replica is up (call once its store holds owner_token's lease)."""
        self._token = owner_token
        with self._db.use() as conn:
            conn.execute(
                "INSERT INTO replicas (scope, owner_token, host, pid) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (scope, owner_token) DO UPDATE SET host = excluded.host, "
                "pid = excluded.pid, last_seen = now()",
                (self.scope, owner_token, host, pid),
            )

    def heartbeat(self) -> None:
        """Refresh last_seen of the registered replica (registering it again if a
        database restore lost its row)."""
        if self._token is None:
            return
        with self._db.use() as conn:
            cur = conn.execute(
                "UPDATE replicas SET last_seen = now() WHERE scope = %s AND owner_token = %s",
                (self.scope, self._token),
            )
            if cur.rowcount == 0:
                conn.execute(
                    "INSERT INTO replicas (scope, owner_token, host, pid) "
                    "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    (self.scope, self._token, *_own_host_pid()),
                )

    def deregister(self) -> None:
        """This replica stops (a clean shutdown): its row goes at once."""
        if self._token is None:
            return
        with self._db.use() as conn:
            conn.execute(
                "DELETE FROM replicas WHERE scope = %s AND owner_token = %s",
                (self.scope, self._token),
            )
        self._token = None

    def alive(self) -> list[ReplicaInfo]:
        """The replicas whose owner lease is held, oldest first; rows of replicas dead
        and unseen for FORGET_AFTER_S are deleted on the way."""
        with self._db.use() as conn, conn.transaction():
            rows = conn.execute(
                "SELECT r.owner_token, r.host, r.pid, r.started_at, r.last_seen, "
                "r.last_seen < now() - make_interval(secs => %s) AS stale, "
                "l.owner_token IS NOT NULL AS leader "
                "FROM replicas r LEFT JOIN leaders l "
                "ON l.scope = r.scope AND l.owner_token = r.owner_token "
                "WHERE r.scope = %s ORDER BY r.started_at, r.owner_token",
                (FORGET_AFTER_S, self.scope),
            ).fetchall()
            alive: list[ReplicaInfo] = []
            forget: list[str] = []
            for row in rows:
                if not postgres.owner_lease_free(conn, row["owner_token"]):
                    alive.append(
                        ReplicaInfo(
                            row["owner_token"],
                            row["host"],
                            row["pid"],
                            row["started_at"],
                            row["last_seen"],
                            bool(row["leader"]),
                        )
                    )
                elif row["stale"]:
                    forget.append(row["owner_token"])
            if forget:
                conn.execute(
                    "DELETE FROM replicas WHERE scope = %s AND owner_token = ANY(%s)",
                    (self.scope, forget),
                )
        return alive

    def close(self) -> None:
        self._db.close()


def _own_host_pid() -> tuple[str, int]:
    return socket.gethostname(), os.getpid()
