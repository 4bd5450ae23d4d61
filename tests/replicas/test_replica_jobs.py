"""The shared executor: what a pass gets back for a job another replica ran (or did not
finish), through the real queue on PostgreSQL and a real run store."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest

from infra_gitops import coordination
from infra_gitops.coordination.queue import Job, WorkQueue
from infra_gitops.daemon.jobs import JobWaiter, SharedExecutor, outcome_of
from infra_gitops.daemon.passes import Operation, PassAbandoned
from infra_gitops.daemon.reconcile import ActionKind
from infra_gitops.models import Commit, Run, RunKind, RunStatus, Stack
from infra_gitops.postgres import DatabaseUrl
from infra_gitops.runs import RunStore

SHA = "a" * 40
OTHER = "b" * 40
STACK = Stack(name="storage", path="stacks/storage")
APPLY = Operation(STACK, ActionKind.APPLY, SHA, "daemon:commit")


def _job(**fields: Any) -> Job:
    base: dict[str, Any] = dict(
        id=7,
        scope="s",
        stack="storage",
        action="apply",
        commit_sha=SHA,
        trigger="daemon:commit",
        state="done",
        enqueued_at=datetime.now(UTC),
        run_id="r1",
        outcome="applied",
    )
    return Job(**{**base, **fields})


def _run(status: RunStatus) -> Run:
    commit = Commit(SHA, "Alice", "alice@example.com", "2026-12-01T10:00:00+00:00", "m")
    return Run(
        id="r1",
        stack="storage",
        kind=RunKind.APPLY,
        trigger="daemon:commit",
        status=status,
        commit=commit,
        started_at="2026-12-01T10:00:00+00:00",
        duration_s=3.5,
    )


def test_a_done_job_gives_its_outcome_and_its_finished_run() -> None:
    run = _run(RunStatus.APPLIED)
    outcome = outcome_of(APPLY, _job(), run)
    assert (outcome.stack, outcome.kind, outcome.status) == ("storage", RunKind.APPLY, "applied")
    assert outcome.run_id == "r1" and outcome.runs == (run,) and outcome.duration_s == 3.5

    failed = outcome_of(APPLY, _job(outcome="failed", error="boom"), _run(RunStatus.FAILED))
    assert (failed.status, failed.error) == (RunStatus.FAILED, "boom")


def test_an_interrupted_job_is_an_interrupted_outcome_without_a_running_record() -> None:
    job = _job(state="interrupted", outcome=None, error="interrupted: the replica died")
    outcome = outcome_of(APPLY, job, _run(RunStatus.RUNNING))
    assert outcome.status is RunStatus.INTERRUPTED
    assert outcome.error == "interrupted: the replica died"
    assert outcome.runs == ()  # not reported as finished: mark_interrupted closes it


def test_an_older_active_job_of_the_stack_is_not_taken_for_this_operation() -> None:
    # Enqueue is idempotent per stack: a job of an earlier leader came back instead.
    outcome = outcome_of(APPLY, _job(commit_sha=OTHER), _run(RunStatus.APPLIED))
    assert outcome.status is RunStatus.INTERRUPTED
    assert OTHER[:10] in (outcome.error or "")
    plan_job = outcome_of(APPLY, _job(action="plan", outcome="changes"), None)
    assert plan_job.status is RunStatus.INTERRUPTED


def test_an_unknown_outcome_is_a_failure() -> None:
    assert outcome_of(APPLY, _job(outcome=None), None).status is RunStatus.FAILED


@dataclass
class _Ctx:
    store: RunStore


@pytest.fixture
def queue(database_url: str) -> Any:
    url = DatabaseUrl.parse(database_url)
    coordination.migrate(url)
    with WorkQueue(url, "test-scope") as q:
        yield q


def test_the_executor_waits_for_the_job_a_worker_runs_and_returns_its_record(
    queue: WorkQueue, tmp_path: Path
) -> None:
    waiter = JobWaiter(queue)
    executor = SharedExecutor(queue, waiter, lambda: True)
    with RunStore.open(tmp_path) as store, ThreadPoolExecutor(2) as pool:
        ctx = cast(Any, _Ctx(store))
        ops = [
            Operation(Stack(name=n, path=f"stacks/{n}"), ActionKind.APPLY, SHA, "webhook")
            for n in ("one", "two")
        ]
        futures = [pool.submit(executor.run, ctx, op, cast(Any, None)) for op in ops]
        claimed: list[Job] = []
        while len(claimed) < 2:
            job = queue.claim("worker-token")
            if job is not None:
                claimed.append(job)
        assert {(j.stack, j.action, j.commit_sha, j.trigger) for j in claimed} == {
            ("one", "apply", SHA, "webhook"),
            ("two", "apply", SHA, "webhook"),
        }
        for job in claimed:
            commit = Commit(SHA, "A", "a@example.com", "2026-12-01T10:00:00+00:00", "m")
            run = store.start(job.stack, RunKind.APPLY, job.trigger, commit, "terraform")
            store.finish(run.id, RunStatus.APPLIED)
            queue.set_run(job.id, run.id)
            queue.finish(job.id, "applied")
        outcomes = {f.result(timeout=10).stack: f.result() for f in futures}
    waiter.close()
    for name in ("one", "two"):
        outcome = outcomes[name]
        assert outcome.status is RunStatus.APPLIED
        assert outcome.run is not None and outcome.run.stack == name
        assert outcome.run.status is RunStatus.APPLIED


def test_a_pass_waiting_for_its_jobs_is_abandoned_when_the_replica_stops_leading(
    queue: WorkQueue, tmp_path: Path
) -> None:
    leading = threading.Event()
    leading.set()
    waiter = JobWaiter(queue)
    executor = SharedExecutor(queue, waiter, leading.is_set)
    with RunStore.open(tmp_path) as store, ThreadPoolExecutor(1) as pool:
        future = pool.submit(executor.run, cast(Any, _Ctx(store)), APPLY, cast(Any, None))
        while waiter.pending_count == 0:
            threading.Event().wait(0.05)
        leading.clear()
        waiter.abandon("lost the leader lock")
        with pytest.raises(PassAbandoned, match="lost the leader lock"):
            future.result(timeout=10)
        with pytest.raises(PassAbandoned):  # and nothing new is enqueued
            executor.run(cast(Any, _Ctx(store)), APPLY, cast(Any, None))
    waiter.close()
    assert queue.pending_count() == 1  # the queued job stays: a worker may still run it
