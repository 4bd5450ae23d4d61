"""The commit the leader reconciled last, where every replica reads it (owned by the
daemon's replica mode, daemon/replicas.py).

Workers take the manifest of the published head for their drift checks: the leader
publishes only heads whose manifest is valid, as the embedded daemon keeps its last
good manifest. One row per scope, with the repository and branch it stands for (so
`status` can name what the replicas of a scope follow).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from infra_gitops import postgres
from infra_gitops.coordination._db import SharedConnection
from infra_gitops.postgres import DatabaseUrl

if TYPE_CHECKING:
    import psycopg


def heads_table(conn: psycopg.Connection[Any]) -> None:
    """Migration step of the coordination component (appended to schema.STEPS)."""
    conn.execute(
        """CREATE TABLE published_heads (
            scope TEXT PRIMARY KEY,
            repo TEXT NOT NULL,
            branch TEXT NOT NULL,
            sha TEXT NOT NULL,
            published_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )"""
    )


@dataclass(frozen=True)
class PublishedHead:
    scope: str
    repo: str
    """The repository's URL without credentials (or its path)."""
    branch: str
    sha: str
    published_at: datetime


def published_heads(url: DatabaseUrl) -> list[PublishedHead]:
    """Every scope's published head (the repository branches replicas follow here)."""
    with postgres.connection(url) as conn:
        rows = conn.execute(
            "SELECT scope, repo, branch, sha, published_at FROM published_heads ORDER BY repo"
        ).fetchall()
    return [PublishedHead(**row) for row in rows]


class PublishedHeads:
    """The published head of one scope. Thread-safe."""

    def __init__(self, url: DatabaseUrl, scope: str, *, repo: str, branch: str) -> None:
        self.scope = scope
        self.repo = repo
        self.branch = branch
        self._db = SharedConnection(url, "published head")

    def publish(self, sha: str) -> None:
        """sha was reconciled and its manifest is the one drift checks use."""
        with self._db.use() as conn:
            conn.execute(
                "INSERT INTO published_heads (scope, repo, branch, sha) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (scope) DO UPDATE SET repo = excluded.repo, "
                "branch = excluded.branch, sha = excluded.sha, published_at = now()",
                (self.scope, self.repo, self.branch, sha),
            )

    def get(self) -> str | None:
        with self._db.use() as conn:
            row = conn.execute(
                "SELECT sha FROM published_heads WHERE scope = %s", (self.scope,)
            ).fetchone()
        return str(row["sha"]) if row else None

    def close(self) -> None:
        self._db.close()
