"""The commit the leader reconciled last, and which replica leads, where every replica
reads them (owned by the daemon's replica mode, daemon/replicas.py).

Workers take the manifest of the published head for their drift checks (the leader
publishes only heads whose manifest is valid, as the embedded daemon keeps its last good
manifest), and `status` shows which replica leads. One row per scope.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from infra_gitops.coordination._db import SharedConnection
from infra_gitops.postgres import DatabaseUrl

if TYPE_CHECKING:
    import psycopg


@dataclass(frozen=True)
class PublishedHead:
    sha: str | None
    """The last commit reconciled with a valid manifest (None: none yet)."""
    leader_token: str | None
    """The owner token of the replica that took the leader lock last (it may be dead:
    compare with Replicas.alive())."""
    leader_host: str | None
    leader_pid: int | None
    updated_at: datetime


def heads_table(conn: psycopg.Connection[Any]) -> None:
    """Migration step of the coordination component (appended to schema.STEPS)."""
    conn.execute(
        """CREATE TABLE published_heads (
            scope TEXT PRIMARY KEY,
            sha TEXT,
            leader_token TEXT,
            leader_host TEXT,
            leader_pid INTEGER,
            updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )"""
    )


class PublishedHeads:
    """The published head of one scope. Thread-safe."""

    def __init__(self, url: DatabaseUrl, scope: str) -> None:
        self.scope = scope
        self._db = SharedConnection(url, "published head")

    def lead(self, owner_token: str, host: str, pid: int) -> None:
        """Say that this replica leads from now on (called once it holds the lock)."""
        with self._db.use() as conn:
            conn.execute(
                "INSERT INTO published_heads (scope, leader_token, leader_host, leader_pid) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (scope) DO UPDATE SET "
                "leader_token = excluded.leader_token, leader_host = excluded.leader_host, "
                "leader_pid = excluded.leader_pid, updated_at = now()",
                (self.scope, owner_token, host, pid),
            )

    def publish(self, sha: str) -> None:
        """sha was reconciled and its manifest is the one drift checks use."""
        with self._db.use() as conn:
            conn.execute(
                "INSERT INTO published_heads (scope, sha) VALUES (%s, %s) "
                "ON CONFLICT (scope) DO UPDATE SET sha = excluded.sha, updated_at = now()",
                (self.scope, sha),
            )

    def get(self) -> PublishedHead | None:
        with self._db.use() as conn:
            row = conn.execute(
                "SELECT sha, leader_token, leader_host, leader_pid, updated_at "
                "FROM published_heads WHERE scope = %s",
                (self.scope,),
            ).fetchone()
        return PublishedHead(**row) if row else None

    def close(self) -> None:
        self._db.close()
