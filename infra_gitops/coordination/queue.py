"""The queue of stack operations replicas pull from (`SELECT ... FOR UPDATE SKIP LOCKED`).

Why a table and not a queue library: a job here is tied to things in the same database
(the claimer's owner lease, the run record, the stack lock), and what matters is what
happens when a worker dies mid-apply: the job must NOT run again (an apply that may
have started is never retried; the next decision plans the stack again). With the
queue in our own table, "interrupted, never re-queued" is one UPDATE keyed on the
claimer's lease, in the same database as that lease; procrastinate would work too but
its retry and stalled-job machinery is exactly what we must switch off, and it adds a
schema of its own. Redis-based queues re-ran jobs after a SIGKILL (measured).

At most one job per stack is active (queued or running): enqueue is idempotent, and
two replicas never run the same stack from the queue at once (the stack lock is the
guard for everything else, the engine's state lock the last one).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from infra_gitops import postgres
from infra_gitops.coordination._db import Listener, SharedConnection, channel
from infra_gitops.postgres import DatabaseUrl

ACTIONS = frozenset({"plan", "apply"})
FINISHED = frozenset({"done", "interrupted"})
_POLL_S = 0.5
"""Waiters re-read the jobs at least this often (a missed notification, no listener)."""


@dataclass(frozen=True)
class Job:
    """One operation on one stack at one commit, as the queue holds it."""

    id: int
    scope: str
    stack: str
    action: str
    """'plan' or 'apply'."""
    commit_sha: str
    trigger: str
    state: str
    """'queued', 'running', 'done' or 'interrupted' (its claimer died: never re-run)."""
    enqueued_at: datetime
    claimed_by: str | None = None
    """The owner token of the replica that claimed it."""
    claimed_at: datetime | None = None
    finished_at: datetime | None = None
    run_id: str | None = None
    outcome: str | None = None
    """A RunStatus value, once done."""
    error: str | None = None

    @property
    def finished(self) -> bool:
        return self.state in FINISHED


_COLUMNS = (
    "id, scope, stack, action, commit_sha, trigger, state, enqueued_at, claimed_by, "
    "claimed_at, finished_at, run_id, outcome, error"
)


def _job(row: Mapping[str, Any]) -> Job:
    return Job(**{name: row[name] for name in Job.__dataclass_fields__})


class WorkQueue:
    """The jobs of one scope (one repository branch). Thread-safe."""

    def __init__(self, url: DatabaseUrl, scope: str) -> None:
        self.url = url
        self.scope = scope
        self._db = SharedConnection(url, "work queue")
        self._guard = threading.Lock()
        self._unanswered_claims: dict[str, str] = {}
        """claim id -> owner token of claims that failed on the way back."""
        self._finished_channel = channel("jobs_finished", scope)
        self._queued_channel = channel("jobs_queued", scope)
        self._finished = Listener(url, self._finished_channel)
        self._queued = Listener(url, self._queued_channel)

    def enqueue(self, stack: str, action: str, commit: str, trigger: str) -> Job:
        """A new queued job, or the stack's active one (whatever its action or commit:
        the stack is already being dealt with, and its next decision sees the result)."""
        if action not in ACTIONS:
            raise ValueError(f"unknown job action {action!r}: one of {sorted(ACTIONS)}")
        with self._db.use() as conn:
            while True:
                row = conn.execute(
                    f"WITH added AS (INSERT INTO jobs (scope, stack, action, commit_sha, trigger) "
                    f"VALUES (%s, %s, %s, %s, %s) ON CONFLICT (scope, stack) "
                    f"WHERE state IN ('queued', 'running') DO NOTHING RETURNING {_COLUMNS}) "
                    f"SELECT added.*, pg_notify(%s, added.id::text) FROM added",
                    (self.scope, stack, action, commit, trigger, self._queued_channel),
                ).fetchone()
                if row is None:
                    row = conn.execute(
                        f"SELECT {_COLUMNS} FROM jobs WHERE scope = %s AND stack = %s "
                        "AND state IN ('queued', 'running')",
                        (self.scope, stack),
                    ).fetchone()
                if row is not None:  # else the active job finished meanwhile: add one
                    return _job(row)

    def claim(self, owner_token: str) -> Job | None:
        """Take the oldest queued job (running, claimed by owner_token); None when none.
        Concurrent claimers never get the same job, and never wait for each other.

        owner_token's lease must be held (by the replica's run store) for as long as
        the job runs: a job whose claimer's lease is free is taken for a dead
        replica's by interrupt_dead().

        A claim whose answer was lost with the connection (it raised DatabaseError, yet
        the database may have committed it) is handed out by the next claim() of this
        queue: such a job would otherwise stay running, claimed by a live replica that
        does not know it has it, and its stack would never run again."""
        recovered = self._recover_claim(owner_token)
        if recovered is not None:
            return recovered
        claim_id = uuid.uuid4().hex
        try:
            with self._db.use() as conn:
                row = conn.execute(
                    "UPDATE jobs SET state = 'running', claimed_by = %s, claimed_at = now(), "
                    "claim_id = %s "
                    "WHERE id = (SELECT id FROM jobs WHERE scope = %s AND state = 'queued' "
                    "ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) "
                    f"RETURNING {_COLUMNS}",
                    (owner_token, claim_id, self.scope),
                ).fetchone()
        except postgres.DatabaseError:
            with self._guard:
                self._unanswered_claims[claim_id] = owner_token
            raise
        return _job(row) if row else None

    def _recover_claim(self, owner_token: str) -> Job | None:
        with self._guard:  # taken out first: two threads never hand out the same job
            ids = [c for c, token in self._unanswered_claims.items() if token == owner_token]
            for claim_id in ids:
                del self._unanswered_claims[claim_id]
        if not ids:
            return None
        try:
            with self._db.use() as conn:
                rows = conn.execute(
                    f"SELECT claim_id, {_COLUMNS} FROM jobs WHERE claim_id = ANY(%s) "
                    "AND state = 'running' ORDER BY id",
                    (ids,),
                ).fetchall()
        except postgres.DatabaseError:
            with self._guard:
                self._unanswered_claims.update(dict.fromkeys(ids, owner_token))
            raise
        # A claim not found never committed (or its job was interrupted meanwhile).
        with self._guard:
            for row in rows[1:]:
                self._unanswered_claims[row["claim_id"]] = owner_token
        return _job(rows[0]) if rows else None

    def wait_queued(self, timeout: float) -> bool:
        """Sleep until a job is enqueued in this scope or timeout passes (a worker with
        nothing to do); True when woken by a new job. Then claim()."""
        return self._queued.wait(timeout)

    def set_run(self, job_id: int, run_id: str) -> None:
        """The run record the job's operation opened."""
        with self._db.use() as conn:
            conn.execute("UPDATE jobs SET run_id = %s WHERE id = %s", (run_id, job_id))

    def finish(self, job_id: int, outcome: str, error: str | None = None) -> Job | None:
        """The job ran to an outcome (a RunStatus value): done, and its waiters woken.

        A job already marked interrupted (its claimer's lease was lost while it still
        ran) stays interrupted: its waiters have moved on; the outcome is kept for the
        record. Idempotent: after a DatabaseError, call it again. None when the job is
        unknown or was never claimed."""
        with self._db.use() as conn:
            row = conn.execute(
                "WITH ended AS (UPDATE jobs SET "
                "state = CASE WHEN state = 'running' THEN 'done' ELSE state END, "
                "finished_at = coalesce(finished_at, now()), outcome = %s, "
                "error = coalesce(%s, error) "
                "WHERE id = %s AND state IN ('running', 'done', 'interrupted') "
                f"RETURNING {_COLUMNS}) "
                "SELECT ended.*, pg_notify(%s, ended.id::text) FROM ended",
                (outcome, error, job_id, self._finished_channel),
            ).fetchone()
        return _job(row) if row else None

    def get(self, job_id: int) -> Job | None:
        with self._db.use() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = %s", (job_id,)).fetchone()
        return _job(row) if row else None

    def wait(
        self, job_ids: Iterable[int], timeout: float, *, first: bool = False
    ) -> dict[int, Job]:
        """The finished (done or interrupted) jobs among job_ids, by id: returns once all
        are finished (with first=True: once any is), or at timeout with those that are.
        Woken by NOTIFY when a job finishes; re-reads at least every 0.5 s anyway."""
        wanted = set(job_ids)
        finished: dict[int, Job] = {}
        deadline = time.monotonic() + max(timeout, 0)
        notified: set[int] | None = None  # None: read every unfinished job
        next_full_read = 0.0
        while True:
            now = time.monotonic()
            if notified is None or now >= next_full_read:
                # Every slice anyway: a notification may have been missed.
                finished.update(self._finished_among(wanted - finished.keys()))
                next_full_read = now + _POLL_S
            elif notified:
                finished.update(self._finished_among((notified & wanted) - finished.keys()))
            if len(finished) == len(wanted) or (first and finished):
                return finished
            left = deadline - time.monotonic()
            if left <= 0:
                return finished
            payloads = self._finished.collect(min(_POLL_S, left))
            notified = {int(p) for p in payloads if p.isdigit()}

    def _finished_among(self, job_ids: set[int]) -> dict[int, Job]:
        if not job_ids:
            return {}
        with self._db.use() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE id = ANY(%s) "
                "AND state IN ('done', 'interrupted')",
                (list(job_ids),),
            ).fetchall()
        return {row["id"]: _job(row) for row in rows}

    def interrupt_dead(self) -> list[Job]:
        """Running jobs whose claimer is gone (its owner lease is free: the replica died
        or lost its database connection) become interrupted, never queued again: an apply
        may have started, so the next decision plans the stack afresh instead."""
        with self._db.use() as conn, conn.transaction():
            tokens = [
                row["claimed_by"]
                for row in conn.execute(
                    "SELECT DISTINCT claimed_by FROM jobs WHERE scope = %s AND state = 'running'",
                    (self.scope,),
                ).fetchall()
            ]
            dead = [t for t in tokens if postgres.owner_lease_free(conn, t)]
            if not dead:
                return []
            rows = conn.execute(
                "WITH ended AS (UPDATE jobs SET state = 'interrupted', finished_at = now(), "
                "error = 'interrupted: the replica running it ('"
                " || coalesce((SELECT 'host ' || r.host || ', pid ' || r.pid FROM replicas r "
                "   WHERE r.scope = jobs.scope AND r.owner_token = jobs.claimed_by), "
                "   'owner ' || jobs.claimed_by) "
                " || ') died or lost its database connection; not retried: the stack is '"
                " || 'planned again by the next decision' "
                "WHERE scope = %s AND state = 'running' AND claimed_by = ANY(%s) "
                f"RETURNING {_COLUMNS}) "
                "SELECT ended.*, pg_notify(%s, ended.id::text) FROM ended ORDER BY id",
                (self.scope, dead, self._finished_channel),
            ).fetchall()
        return [_job(row) for row in rows]

    def pending_count(self) -> int:
        return self._count("queued")

    def running_count(self) -> int:
        return self._count("running")

    def _count(self, state: str) -> int:
        with self._db.use() as conn:
            row = conn.execute(
                "SELECT count(*) AS n FROM jobs WHERE scope = %s AND state = %s",
                (self.scope, state),
            ).fetchone()
        return int(row["n"]) if row else 0

    def forget_finished(self, older_than_s: float) -> int:
        """Delete finished jobs older than this (their runs are in the run records);
        returns how many."""
        with self._db.use() as conn:
            cur = conn.execute(
                "DELETE FROM jobs WHERE scope = %s AND state IN ('done', 'interrupted') "
                "AND finished_at < now() - make_interval(secs => %s)",
                (self.scope, older_than_s),
            )
            return cur.rowcount

    def close(self) -> None:
        self._db.close()
        self._finished.close()
        self._queued.close()

    def __enter__(self) -> WorkQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
