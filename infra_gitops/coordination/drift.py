"""Drift checks as due times in a table: the leader keeps the schedule in step with the
manifest, any replica claims the checks that are due.

A claim moves the stack's due time one interval ahead in the same statement that
reads it (`FOR UPDATE SKIP LOCKED`), so a due check goes to exactly one replica;
replicas claim only as many as they have free workers, so the work spreads by pulling.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from infra_gitops.coordination._db import SharedConnection
from infra_gitops.postgres import DatabaseUrl


def drift_jitter(interval: float) -> float:
    """The most a check is put off to spread stacks of the same interval: the same rule
    as daemon.scheduler.drift_jitter (not imported from there: the daemon's scheduler
    module loads APScheduler, which a replica does not use)."""
    return min(interval * 0.1, 60.0)


_JITTER_SQL = "random() * least(interval_s * 0.1, 60.0)"


@dataclass(frozen=True)
class DueCheck:
    """A drift check this replica claimed."""

    stack: str
    due_at: datetime
    lag_s: float = 0.0
    """How late it was claimed (the database's now() - due_at), for the lag metric."""


class DriftSchedule:
    """The drift schedule of one scope. Thread-safe."""

    def __init__(self, url: DatabaseUrl, scope: str) -> None:
        self.url = url
        self.scope = scope
        self._db = SharedConnection(url, "drift schedule")

    def sync(self, intervals: Mapping[str, float]) -> None:
        """Make the schedule hold exactly these stacks (leader): a new stack is first due
        one interval (plus jitter) from now, a changed interval starts afresh from now,
        an unchanged one keeps its due time, a stack no longer listed is dropped."""
        for stack, interval in intervals.items():
            if not interval > 0:
                raise ValueError(f"the drift interval of {stack!r} must be > 0, got {interval}")
        stacks = list(intervals)
        seconds = [float(intervals[s]) for s in stacks]
        delays = [i + random.uniform(0, drift_jitter(i)) for i in seconds]
        with self._db.use() as conn, conn.transaction():
            conn.execute(
                "INSERT INTO drift_schedule (scope, stack, interval_s, due_at) "
                "SELECT %s, t.stack, t.interval_s, now() + make_interval(secs => t.delay) "
                "FROM unnest(%s::text[], %s::float8[], %s::float8[]) "
                "AS t(stack, interval_s, delay) "
                "ON CONFLICT (scope, stack) DO UPDATE SET interval_s = excluded.interval_s, "
                "due_at = excluded.due_at "
                "WHERE drift_schedule.interval_s <> excluded.interval_s",
                (self.scope, stacks, seconds, delays),
            )
            conn.execute(
                # NOT IN over a subquery is hashed: = ANY(array) would compare each row
                # with every name (10,000 stacks: 10^8 comparisons).
                "DELETE FROM drift_schedule WHERE scope = %s "
                "AND stack NOT IN (SELECT unnest(%s::text[]))",
                (self.scope, stacks),
            )

    def claim_due(self, owner_token: str, limit: int) -> list[DueCheck]:
        """Up to limit checks that are due, oldest first, each now this replica's to run:
        its next due time is one interval (plus jitter) from now, so no other replica
        gets it before then. (A claim whose answer is lost with the connection skips
        those checks for one interval: a late check, never a doubled one.)"""
        if limit <= 0:
            return []
        with self._db.use() as conn:
            rows = conn.execute(
                "WITH due AS (SELECT stack, due_at FROM drift_schedule "
                "WHERE scope = %s AND due_at <= now() ORDER BY due_at LIMIT %s "
                "FOR UPDATE SKIP LOCKED) "
                "UPDATE drift_schedule d SET "
                f"due_at = now() + make_interval(secs => d.interval_s + {_JITTER_SQL}), "
                "claimed_by = %s, claimed_at = now() "
                "FROM due WHERE d.scope = %s AND d.stack = due.stack "
                "RETURNING due.stack, due.due_at, "
                "extract(epoch FROM now() - due.due_at)::float8 AS lag_s",
                (self.scope, limit, owner_token, self.scope),
            ).fetchall()
        checks = [DueCheck(r["stack"], r["due_at"], max(float(r["lag_s"]), 0.0)) for r in rows]
        return sorted(checks, key=lambda c: c.due_at)

    def next_due(self) -> datetime | None:
        """When the next check falls due (None: nothing scheduled)."""
        with self._db.use() as conn:
            row = conn.execute(
                "SELECT min(due_at) AS due FROM drift_schedule WHERE scope = %s", (self.scope,)
            ).fetchone()
        return row["due"] if row else None

    def intervals(self) -> dict[str, float]:
        """The schedule's stacks and their intervals."""
        with self._db.use() as conn:
            rows = conn.execute(
                "SELECT stack, interval_s FROM drift_schedule WHERE scope = %s", (self.scope,)
            ).fetchall()
        return {r["stack"]: float(r["interval_s"]) for r in rows}

    def close(self) -> None:
        self._db.close()
