"""The commit the leader reconciled last, where every replica reads it (owned by the
daemon's replica mode, daemon/replicas.py).

Workers take the manifest of the published head for their drift checks: the leader
publishes only heads whose manifest is valid, as the embedded daemon keeps its last
good manifest. One row per scope.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from infra_gitops.coordination._db import SharedConnection
from infra_gitops.postgres import DatabaseUrl

if TYPE_CHECKING:
    import psycopg


def heads_table(conn: psycopg.Connection[Any]) -> None:
    """Migration step of the coordination component (appended to schema.STEPS)."""
    conn.execute(
        """CREATE TABLE published_heads (
            scope TEXT PRIMARY KEY,
            sha TEXT NOT NULL,
            published_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )"""
    )


class PublishedHeads:
    """The published head of one scope. Thread-safe."""

    def __init__(self, url: DatabaseUrl, scope: str) -> None:
        self.scope = scope
        self._db = SharedConnection(url, "published head")

    def publish(self, sha: str) -> None:
        """sha was reconciled and its manifest is the one drift checks use."""
        with self._db.use() as conn:
            conn.execute(
                "INSERT INTO published_heads (scope, sha) VALUES (%s, %s) ON CONFLICT (scope) "
                "DO UPDATE SET sha = excluded.sha, published_at = now()",
                (self.scope, sha),
            )

    def get(self) -> str | None:
        with self._db.use() as conn:
            row = conn.execute(
                "SELECT sha FROM published_heads WHERE scope = %s", (self.scope,)
            ).fetchone()
        return str(row["sha"]) if row else None

    def close(self) -> None:
        self._db.close()
