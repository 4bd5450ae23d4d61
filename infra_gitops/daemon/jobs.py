"""The shared executor: a replica's pass carries its operations out as jobs of the
shared queue, which the workers of every replica run (daemon/replicas.py).

The pass threads only enqueue and wait. One waiter thread watches every pending job of
the leader (WorkQueue.wait over all their ids) and wakes the pass thread of each job as
it ends, so a pass over thousands of stacks costs one polling loop, not one per stack;
its waves are started with a high parallelism since the workers bound the real
concurrency.

A job's outcome is built from the job and its run record. An interrupted job (its
replica died) is an INTERRUPTED outcome: the pass stays pending and the next pass
decides afresh, planning again; a job is never re-queued as it was.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future

from infra_gitops.coordination.queue import Job, WorkQueue
from infra_gitops.daemon.passes import Context, Operation, PassAbandoned
from infra_gitops.daemon.runtime import Settings
from infra_gitops.errors import GitOpsError
from infra_gitops.models import Run, RunStatus, StackOutcome
from infra_gitops.stackrun import StackRunner

log = logging.getLogger("infra_gitops.daemon")

PASS_PARALLELISM = 512
"""Operations of a wave enqueued at once by the leader: its threads only wait, the
workers of all replicas bound what runs."""

WAIT_SLICE_S = 0.5
"""How long one WorkQueue.wait call lasts at most (less when all its jobs end): the
jobs that ended meanwhile wake their pass threads then, and new jobs join the wait. One
call reads only the jobs its notifications name, so a slice (not each finish) costs a
read of every pending job."""


def outcome_of(op: Operation, job: Job, run: Run | None) -> StackOutcome:
    """The StackOutcome of op from the job that carried it out and its run record."""
    name, kind = op.stack.name, op.kind
    runs = (run,) if run is not None and run.status is not RunStatus.RUNNING else ()
    if job.commit_sha != op.commit or job.action != str(op.action):
        # Enqueue is idempotent per stack: an earlier leader's job was still active.
        return StackOutcome(
            name,
            kind,
            RunStatus.INTERRUPTED,
            run_id=job.run_id,
            error=f"the stack was busy with a {job.action} of commit {job.commit_sha[:10]} "
            "queued earlier; decided again at the next pass",
            runs=runs,
        )
    if job.state == "interrupted":
        return StackOutcome(
            name,
            kind,
            RunStatus.INTERRUPTED,
            run_id=job.run_id,
            error=job.error or "the replica running it stopped; decided again at the next pass",
            runs=runs,
        )
    try:
        status = RunStatus(job.outcome or "")
    except ValueError:
        status = RunStatus.FAILED
    duration = run.duration_s if run is not None and run.duration_s is not None else 0.0
    return StackOutcome(
        name, kind, status, run_id=job.run_id, error=job.error, duration_s=duration, runs=runs
    )


class JobWaiter:
    """One thread waiting for every pending job; wait_for() blocks a pass thread."""

    def __init__(self, queue: WorkQueue) -> None:
        self._queue = queue
        self._pending: dict[int, list[Future[Job]]] = {}
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="job-waiter", daemon=True)
        self._thread.start()

    def wait_for(self, job_id: int, valid: Callable[[], bool]) -> Job:
        """The job once done or interrupted; raises PassAbandoned when abandoned, or when
        valid() is false once registered (an abandon() that came just before)."""
        future: Future[Job] = Future()
        with self._cond:
            if self._closed:
                raise PassAbandoned("the replica is stopping")
            self._pending.setdefault(job_id, []).append(future)
            self._cond.notify_all()
        if not valid():
            self._forget(job_id, future)
            raise PassAbandoned("this replica no longer leads")
        return future.result()

    def _forget(self, job_id: int, future: Future[Job]) -> None:
        with self._cond:
            futures = self._pending.get(job_id, [])
            if future in futures:
                futures.remove(future)
            if not futures:
                self._pending.pop(job_id, None)

    def abandon(self, reason: str) -> None:
        """Wake every waiting pass thread with PassAbandoned(reason)."""
        with self._cond:
            pending, self._pending = self._pending, {}
        for futures in pending.values():
            for future in futures:
                future.set_exception(PassAbandoned(reason))

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self.abandon("the replica is stopping")
        self._thread.join(timeout=5)

    @property
    def pending_count(self) -> int:
        with self._cond:
            return len(self._pending)

    def _loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._closed or bool(self._pending))
                if self._closed:
                    return
                ids = list(self._pending)
            try:
                jobs = self._queue.wait(ids, WAIT_SLICE_S)
            except GitOpsError as exc:
                # The database is away: the replica steps down (abandon) or it comes
                # back; either way try again shortly.
                log.debug("waiting for jobs: %s", exc)
                with self._cond:
                    self._cond.wait(timeout=1.0)
                continue
            self._resolve(jobs.values())

    def _resolve(self, jobs: Iterable[Job]) -> None:
        done: list[tuple[Job, list[Future[Job]]]] = []
        with self._cond:
            for job in jobs:
                if job.finished and job.id in self._pending:
                    done.append((job, self._pending.pop(job.id)))
        for job, futures in done:
            for future in futures:
                future.set_result(job)


class SharedExecutor:
    """Executor of a replica's passes: enqueue each operation, wait for its job."""

    def __init__(self, queue: WorkQueue, waiter: JobWaiter, leading: Callable[[], bool]) -> None:
        self._queue = queue
        self._waiter = waiter
        self._leading = leading

    def parallelism(self, settings: Settings) -> int:
        return PASS_PARALLELISM

    def run(self, ctx: Context, op: Operation, runner: StackRunner) -> StackOutcome:
        if not self._leading():
            raise PassAbandoned("this replica no longer leads")
        job = self._queue.enqueue(op.stack.name, str(op.action), op.commit, op.trigger)
        finished = self._waiter.wait_for(job.id, self._leading)
        return outcome_of(op, finished, _run_record(ctx, finished.run_id))


def _run_record(ctx: Context, run_id: str | None) -> Run | None:
    if run_id is None:
        return None
    try:
        return ctx.store.get(run_id)
    except GitOpsError as exc:
        log.warning("cannot read run %s: %s", run_id, exc)
        return None
