"""The work queue on a real PostgreSQL: each job claimed once by concurrent replicas,
one active job per stack, jobs of a dead claimer interrupted and never run again."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from coord_helpers import Helpers
from postgres_server import PostgresServer

from infra_gitops import postgres
from infra_gitops.coordination import queue as queue_module
from infra_gitops.coordination.queue import WorkQueue
from infra_gitops.postgres import DatabaseUrl

SCOPE = "repo-a"
Lease = Callable[[str], psycopg.Connection[Any]]

CLAIMER = """
import json, sys
from infra_gitops import postgres
from infra_gitops.coordination.queue import WorkQueue
url, token = postgres.DatabaseUrl.parse(sys.argv[1]), sys.argv[2]
conn = postgres.connect(url, autocommit=True)
assert postgres.take_owner_lease(conn, token)
queue = WorkQueue(url, sys.argv[3])
print("ready", flush=True)
sys.stdin.readline()  # go
claimed = []
while (job := queue.claim(token)) is not None:
    claimed.append(job.id)
    queue.finish(job.id, "no-changes", None)
print(json.dumps(claimed), flush=True)
"""

HOLDER = """
import os, socket, sys, time
from infra_gitops import postgres
from infra_gitops.coordination.queue import WorkQueue
from infra_gitops.coordination.replicas import Replicas
url, token = postgres.DatabaseUrl.parse(sys.argv[1]), sys.argv[2]
conn = postgres.connect(url, autocommit=True)
assert postgres.take_owner_lease(conn, token)
Replicas(url, sys.argv[3]).register(token, socket.gethostname(), os.getpid())
job = WorkQueue(url, sys.argv[3]).claim(token)
print(job.id, flush=True)
time.sleep(600)
"""


def test_each_job_is_claimed_once_by_four_threads_and_two_processes(
    url: DatabaseUrl, lease: Lease, helpers: Helpers
) -> None:
    queue = WorkQueue(url, SCOPE)
    ids = {queue.enqueue(f"stack-{n:04d}", "plan", "c0ffee", "poll").id for n in range(2000)}
    assert len(ids) == 2000 and queue.pending_count() == 2000
    procs = [helpers.start(CLAIMER, url.dsn, f"proc-{n}", SCOPE)[0] for n in range(2)]
    go = threading.Event()
    claimed: dict[str, list[int]] = {}

    def claim_all(token: str) -> None:
        lease(token)
        mine = WorkQueue(url, SCOPE)
        got: list[int] = []
        go.wait()
        while (job := mine.claim(token)) is not None:
            assert job.state == "running" and job.claimed_by == token
            got.append(job.id)
            mine.finish(job.id, "no-changes", None)
        claimed[token] = got

    threads = [threading.Thread(target=claim_all, args=(f"thread-{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    go.set()
    for proc in procs:
        helpers.tell(proc, "go")
    for thread in threads:
        thread.join(timeout=120)
    for n, proc in enumerate(procs):
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        claimed[f"proc-{n}"] = json.loads(out.strip().splitlines()[-1])

    counts = Counter(job_id for got in claimed.values() for job_id in got)
    assert set(counts) == ids
    assert max(counts.values()) == 1  # nobody got a job another claimer had
    assert sum(1 for got in claimed.values() if got) >= 3  # they really competed
    with postgres.connection(url) as conn:
        rows = conn.execute("SELECT id, claimed_by, state FROM jobs").fetchall()
    owner = {job_id: token for token, got in claimed.items() for job_id in got}
    assert all(row["claimed_by"] == owner[row["id"]] and row["state"] == "done" for row in rows)
    assert queue.pending_count() == 0 and queue.running_count() == 0


def test_enqueue_is_idempotent_per_stack_while_a_job_is_active(url: DatabaseUrl) -> None:
    queue = WorkQueue(url, SCOPE)
    first = queue.enqueue("network", "plan", "aaa", "poll")
    assert queue.enqueue("network", "apply", "bbb", "webhook") == first
    other_scope = WorkQueue(url, "repo-b").enqueue("network", "plan", "aaa", "poll")
    assert other_scope.id != first.id
    claimed = queue.claim("replica-1")
    assert claimed is not None and claimed.id == first.id
    assert queue.enqueue("network", "apply", "ccc", "poll").id == first.id  # running
    queue.finish(first.id, "changes", None)
    again = queue.enqueue("network", "apply", "ccc", "poll")
    assert again.id != first.id and again.action == "apply" and again.commit_sha == "ccc"

    results: list[int] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(WorkQueue(url, SCOPE).enqueue("app", "plan", "x", "t").id)
        )
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1 and len(results) == 8
    assert queue.pending_count() == 2  # network (ccc) and app
    assert queue.forget_finished(0) == 1  # the finished one; active jobs are kept
    assert queue.get(first.id) is None and queue.pending_count() == 2


def test_a_job_of_a_killed_claimer_is_interrupted_and_never_claimed_again(
    url: DatabaseUrl, lease: Lease, helpers: Helpers
) -> None:
    queue = WorkQueue(url, SCOPE)
    doomed = queue.enqueue("storage", "apply", "abc123", "poll")
    lease("alive")
    proc, line = helpers.start(HOLDER, url.dsn, "doomed-replica", SCOPE)
    assert int(line) == doomed.id
    survivor = queue.enqueue("network", "apply", "abc123", "poll")
    assert queue.claim("alive") == queue.get(survivor.id)
    assert queue.interrupt_dead() == []  # both claimers alive

    helpers.sigkill(proc)
    interrupted = _eventually(queue.interrupt_dead)
    assert [job.id for job in interrupted] == [doomed.id]
    job = queue.get(doomed.id)
    assert job is not None and job.state == "interrupted" and job.finished_at is not None
    assert job.error is not None and "not retried" in job.error
    assert f"host {socket.gethostname()}, pid {proc.pid}" in job.error
    running = queue.get(survivor.id)
    assert running is not None and running.state == "running"  # a live claimer's job stays

    assert queue.claim("alive") is None  # never handed out again
    assert queue.interrupt_dead() == []
    replanned = queue.enqueue("storage", "plan", "abc123", "decision")
    assert replanned.id != doomed.id and replanned.state == "queued"


def test_wait_returns_as_soon_as_the_jobs_finish(
    url: DatabaseUrl, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No polling within the test's time: only the notification can wake the waiter.
    monkeypatch.setattr(queue_module, "_POLL_S", 30.0)
    queue = WorkQueue(url, SCOPE)
    a = queue.enqueue("a", "plan", "c1", "poll")
    b = queue.enqueue("b", "apply", "c1", "poll")
    assert queue.wait([a.id, b.id], 0.2) == {}  # nothing finished: at the timeout
    worker = WorkQueue(url, SCOPE)
    finished_at: list[float] = []

    def work() -> None:
        for _ in range(2):
            job = worker.claim("w")
            assert job is not None
            time.sleep(0.3)
            worker.set_run(job.id, f"run-{job.stack}")
            worker.finish(job.id, "applied" if job.action == "apply" else "no-changes", None)
            finished_at.append(time.monotonic())

    thread = threading.Thread(target=work)
    thread.start()
    woken: list[bool] = []
    idle = threading.Thread(target=lambda: woken.append(worker.wait_queued(20)))
    idle.start()
    time.sleep(0.5)  # it listens
    queue.enqueue("c", "plan", "c1", "poll")  # wakes the idle worker at once
    idle.join(timeout=5)
    assert woken == [True]
    first = queue.wait([a.id, b.id], 10, first=True)
    woke_first = time.monotonic()
    done = queue.wait([a.id, b.id], 10)
    woke_all = time.monotonic()
    thread.join()
    assert list(first) == [a.id]
    assert set(done) == {a.id, b.id}
    assert done[b.id].outcome == "applied" and done[b.id].run_id == "run-b"
    assert done[b.id].state == "done"
    assert woke_first - finished_at[0] < 1
    assert woke_all - finished_at[1] < 1


def _eventually(fetch: Callable[[], list[Any]], within: float = 10) -> list[Any]:
    deadline = time.monotonic() + within
    while not (got := fetch()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return got


class _AnswerLost:
    """A connection whose statements run, and whose answers are lost on the way back
    (fault injection: the connection broke after the database committed)."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def execute(self, *args: Any) -> Any:
        self._conn.execute(*args)
        raise psycopg.OperationalError("server closed the connection unexpectedly")


def test_a_claim_whose_answer_was_lost_is_handed_out_by_the_next_claim(
    url: DatabaseUrl, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = WorkQueue(url, SCOPE)
    first = queue.enqueue("network", "apply", "c1", "poll")
    second = queue.enqueue("app", "apply", "c1", "poll")
    real_use = queue._db.use

    @contextlib.contextmanager
    def lossy_use() -> Iterator[Any]:
        with real_use() as conn:
            yield _AnswerLost(conn)

    monkeypatch.setattr(queue._db, "use", lossy_use)
    with pytest.raises(postgres.DatabaseError):
        queue.claim("replica-1")
    monkeypatch.setattr(queue._db, "use", real_use)
    stored = queue.get(first.id)
    assert stored is not None and stored.state == "running"  # committed, answer lost

    assert WorkQueue(url, SCOPE).claim("replica-2") == queue.get(second.id)  # not it
    recovered = queue.claim("replica-1")
    assert recovered is not None and recovered.id == first.id
    assert queue.claim("replica-1") is None  # handed out once


def test_the_first_call_after_a_database_restart_works(
    url: DatabaseUrl, restarted: PostgresServer
) -> None:
    queue = WorkQueue(url, SCOPE)
    queue.enqueue("network", "plan", "c1", "poll")
    assert queue.pending_count() == 1
    restarted.stop()
    restarted.start()
    assert queue.pending_count() == 1  # on a new connection, not an error first


def test_wait_finds_finished_jobs_without_notifications(
    url: DatabaseUrl, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = WorkQueue(url, SCOPE)
    job = queue.enqueue("network", "plan", "c1", "poll")
    # No notification ever arrives (a listener that cannot listen): polling finds it.
    monkeypatch.setattr(queue._finished, "collect", lambda timeout: time.sleep(timeout) or [])
    worker = WorkQueue(url, SCOPE)
    claimed = worker.claim("w")
    assert claimed is not None
    threading.Timer(0.3, lambda: worker.finish(job.id, "no-changes", None)).start()
    started = time.monotonic()
    done = queue.wait([job.id], 10)
    assert set(done) == {job.id} and time.monotonic() - started < 3
