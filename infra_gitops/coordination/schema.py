"""The coordination component's tables, as versioned migrations (postgres.migrate).

Append a function for every schema change; never edit one that was released.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from infra_gitops.coordination.heads import heads_table
from infra_gitops.postgres import Migration

if TYPE_CHECKING:
    import psycopg


def _v1_tables(conn: psycopg.Connection[Any]) -> None:
    # The queue of stack operations. At most one active (queued or running) job per
    # stack: enqueue is idempotent, and no stack is ever run twice at once by the queue.
    conn.execute(
        """CREATE TABLE jobs (
            id BIGSERIAL PRIMARY KEY,
            scope TEXT NOT NULL,
            stack TEXT NOT NULL,
            action TEXT NOT NULL,
            commit_sha TEXT NOT NULL,
            trigger TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'queued'
                CHECK (state IN ('queued', 'running', 'done', 'interrupted')),
            enqueued_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            claimed_by TEXT,
            claimed_at TIMESTAMPTZ,
            claim_id TEXT,
            finished_at TIMESTAMPTZ,
            run_id TEXT,
            outcome TEXT,
            error TEXT
        )"""
    )
    conn.execute(
        "CREATE UNIQUE INDEX jobs_one_active_per_stack ON jobs (scope, stack) "
        "WHERE state IN ('queued', 'running')"
    )
    conn.execute("CREATE INDEX jobs_queued ON jobs (scope, id) WHERE state = 'queued'")
    conn.execute("CREATE INDEX jobs_running ON jobs (scope, claimed_by) WHERE state = 'running'")
    conn.execute("CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL")
    # Who holds a stack lock, for the message of whoever finds it held. The advisory
    # lock is the truth; a row may outlive a killed holder until the next holder.
    conn.execute(
        """CREATE TABLE stack_lock_holders (
            scope TEXT NOT NULL,
            stack TEXT NOT NULL,
            hold_id TEXT NOT NULL,
            owner_token TEXT NOT NULL,
            host TEXT NOT NULL,
            pid INTEGER NOT NULL,
            since TIMESTAMPTZ NOT NULL,
            run_id TEXT,
            PRIMARY KEY (scope, stack)
        )"""
    )
    conn.execute(
        """CREATE TABLE drift_schedule (
            scope TEXT NOT NULL,
            stack TEXT NOT NULL,
            interval_s DOUBLE PRECISION NOT NULL CHECK (interval_s > 0),
            due_at TIMESTAMPTZ NOT NULL,
            claimed_by TEXT,
            claimed_at TIMESTAMPTZ,
            PRIMARY KEY (scope, stack)
        )"""
    )
    conn.execute("CREATE INDEX drift_schedule_due ON drift_schedule (scope, due_at)")
    conn.execute(
        """CREATE TABLE poll_requests (
            scope TEXT PRIMARY KEY,
            requested_at TIMESTAMPTZ NOT NULL,
            reason TEXT NOT NULL
        )"""
    )
    conn.execute(
        """CREATE TABLE replicas (
            scope TEXT NOT NULL,
            owner_token TEXT NOT NULL,
            host TEXT NOT NULL,
            pid INTEGER NOT NULL,
            started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            last_seen TIMESTAMPTZ NOT NULL DEFAULT now(),
            PRIMARY KEY (scope, owner_token)
        )"""
    )
    # Who took the leader lock last (for status); the lock itself is the truth.
    conn.execute(
        """CREATE TABLE leaders (
            scope TEXT PRIMARY KEY,
            owner_token TEXT NOT NULL,
            since TIMESTAMPTZ NOT NULL DEFAULT now()
        )"""
    )


STEPS: list[Migration] = [_v1_tables, heads_table]
"""steps[n] takes the tables from version n to n + 1."""
