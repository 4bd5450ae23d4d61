"""The daemon as one of several identical replicas on one PostgreSQL database.

Every replica runs the same command (`infra-gitops daemon --database-url ...`), each with
its own state dir (mirror, work dirs). What the embedded daemon does in one process is
shared through the database (infra_gitops.coordination):

- leading: one replica at a time holds the leader lock; it polls Git (every poll
  interval, or at once when a webhook reached any replica: PollRequests), runs the
  reconcile pass at the head with the shared executor (daemon/jobs.py: each operation
  a job of the queue), keeps the drift schedule in step with the manifest, publishes
  the head it reconciled (PublishedHeads) and every few seconds marks the runs and jobs
  of dead replicas interrupted. Losing the lock stops leading at once.
- working: N threads (--parallelism) on every replica, the leader included, claim jobs
  (FOR UPDATE SKIP LOCKED) and run them exactly as the embedded daemon runs an
  operation, then claim due drift checks. Every operation holds the stack's lock in
  PostgreSQL: a replica that dies frees its stacks at once, and one that loses its
  connection has its engine process killed.
- the database lost (the store's lease, or the leader lock): stop claiming and leading,
  report unready, reconnect every few seconds with a new lease, then resume.
- stopping (SIGTERM): stop claiming and leading, let running jobs finish within the
  grace period, release the leader lock.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from types import TracebackType
from typing import Any

from infra_gitops import __version__, config
from infra_gitops.coordination import migrate as migrate_coordination
from infra_gitops.coordination import scope_for
from infra_gitops.coordination.drift import DriftSchedule
from infra_gitops.coordination.heads import PublishedHeads
from infra_gitops.coordination.leader import LeaderLock
from infra_gitops.coordination.locks import PostgresStackLocks, StackLocks
from infra_gitops.coordination.poll import PollRequests
from infra_gitops.coordination.queue import Job, WorkQueue
from infra_gitops.coordination.replicas import Replicas
from infra_gitops.daemon import passes
from infra_gitops.daemon.app import Daemon, log_interrupted
from infra_gitops.daemon.contracts import Metrics, Notifier, StackView
from infra_gitops.daemon.jobs import JobWaiter, SharedExecutor
from infra_gitops.daemon.metrics import ReplicaGauges
from infra_gitops.daemon.mirror import display_url
from infra_gitops.daemon.reconcile import ActionKind
from infra_gitops.daemon.runtime import Settings
from infra_gitops.errors import GitOpsError
from infra_gitops.models import RunStatus
from infra_gitops.postgres import DatabaseUrl
from infra_gitops.runs import RunStore

log = logging.getLogger("infra_gitops.daemon")

LEADER_RETRY_S = 2.0
"""How often a follower tries the leader lock (a dead leader's lock is free at once)."""

IDLE_S = 0.5
"""How long an idle worker waits before looking for a job or a due check again."""

TICK_S = 1.0
"""The housekeeper's beat: database health, leadership."""

SWEEP_S = 3.0
"""How often the leader marks the runs and jobs of dead replicas interrupted, and the
gauges are refreshed."""

FORGET_JOBS_AFTER_S = 24 * 3600.0
"""Finished jobs are deleted after a day (the run records keep what they did)."""

POOL_SPARE = 6
"""Connections of the run store's pool beyond one per worker."""

RECONNECT_S = 3.0
"""How often a replica that lost the database tries a new lease."""


class Replica(Daemon):
    """A daemon replica (implements DaemonApi); use as a context manager, then start()."""

    def __init__(
        self,
        settings: Settings,
        *,
        notifier: Notifier | None = None,
        metrics: Metrics | None = None,
        gauges: ReplicaGauges | None = None,
    ) -> None:
        super().__init__(settings, notifier=notifier, metrics=metrics)
        if settings.database_url is None:
            raise ValueError("a replica needs a database URL")
        self.url: DatabaseUrl = settings.database_url
        self.scope = scope_for(display_url(self.mirror.url), settings.branch)
        self.gauges = gauges
        self.host = socket.gethostname()
        self._stop = threading.Event()
        self._db_ok = threading.Event()
        self._leading = threading.Event()
        self._leader: LeaderLock | None = None
        """The leader lock while leading."""
        self._candidate: LeaderLock | None = None
        """The leader lock tried (kept: one watchdog, one connection when taken)."""
        self._threads: list[threading.Thread] = []
        self._published: tuple[str, config.Manifest] | None = None
        self._published_lock = threading.Lock()

    # ------------------------------------------------------------ lifecycle

    def _open_store(self) -> RunStore:
        migrate_coordination(self.url)
        store = self._exit.enter_context(
            RunStore.open(
                self.settings.state_dir,
                database_url=self.url,
                artifact_store=self.settings.artifact_store,
                # Each worker's operation, the leader's pass, drift and the HTTP API.
                max_connections=self.settings.parallelism + POOL_SPARE,
            )
        )
        self.queue = WorkQueue(self.url, self.scope)
        self.drift = DriftSchedule(self.url, self.scope)
        self.polls = PollRequests(self.url, self.scope)
        self.replicas = Replicas(self.url, self.scope)
        self.heads = PublishedHeads(
            self.url, self.scope, repo=display_url(self.mirror.url), branch=self.settings.branch
        )
        for each in (self.queue, self.drift, self.polls, self.replicas, self.heads):
            self._exit.callback(each.close)
        self._waiter = JobWaiter(self.queue)
        self._exit.callback(self._waiter.close)
        self.replicas.register(store.owner_token, self.host, os.getpid())
        self._exit.callback(_quietly, self.replicas.deregister)  # status stops listing it
        self._db_ok.set()
        return store

    def _stack_locks(self, store: RunStore) -> StackLocks:
        # Keyed by stack name only, as a person's command given --database-url keys them
        # (it knows no repository URL): the two exclude each other. Same-named stacks of
        # two repositories sharing the database then exclude each other too (a wait, or
        # a drift check put off to its next turn), never a loss of safety.
        self._locks = PostgresStackLocks(self.url, store.owner_token)
        return self._locks

    def _executor(self) -> passes.Executor:
        return SharedExecutor(self.queue, self._waiter, self._leading.is_set)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._leading.clear()
        for thread in self._threads:
            thread.join(timeout=1.0)
        super().__exit__(exc_type, exc, tb)

    def start(self) -> None:
        """Start leading (when the lock is free), working and housekeeping."""
        targets = [(self._lead_loop, "leader"), (self._housekeeping_loop, "housekeeper")]
        targets += [(self._work_loop, f"worker-{n}") for n in range(self.settings.parallelism)]
        for target, name in targets:
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info(
            "infra-gitops %s daemon replica: %s branch %s on the database %s with %d "
            "worker(s) (state dir %s)",
            __version__,
            display_url(self.mirror.url),
            self.settings.branch,
            self.url.display,
            self.settings.parallelism,
            self.settings.state_dir,
            extra={"event": "started", "replica": self._context().store.owner_token},
        )

    def _stop_starting(self) -> None:
        """Stop claiming and leading (pass threads waiting for jobs give up)."""
        self._stop.set()
        self._leading.clear()
        self._waiter.abandon("the replica is stopping")

    def _drained(self) -> None:
        leader = self._threads[0] if self._threads else None
        if leader is not None:
            leader.join(timeout=10.0)  # it releases the leader lock as it ends

    # ------------------------------------------------------------ leading

    def _lead_loop(self) -> None:
        try:
            while not self._stop.is_set():
                if not self._ensure_leading():
                    self._stop.wait(LEADER_RETRY_S)
                    continue
                self._take_poll_request()
                try:
                    self.poll()
                except passes.PassAbandoned as exc:
                    self._step_down(str(exc))
                    continue
                except GitOpsError as exc:
                    log.warning("the leader's poll failed: %s", exc)
                except Exception:
                    log.exception("the leader's poll failed")
                self._wait_for_next_poll()
        finally:
            self._step_down("the replica is stopping")

    def _ensure_leading(self) -> bool:
        if self._leading.is_set():
            return True
        if self._leader is not None:
            self._step_down("lost the leader lock")
        if self._stop.is_set() or not self._db_ok.is_set():
            return False
        token = self._context().store.owner_token
        if self._candidate is None or self._candidate.owner_token != token:
            self._candidate = LeaderLock(self.url, self.scope, owner_token=token)
        try:
            acquired = self._candidate.try_acquire()
        except GitOpsError as exc:
            log.debug("cannot try the leader lock: %s", exc)
            acquired = False
        if not acquired:
            return False
        self._leader = self._candidate
        with self._lock:
            self._pending = True  # a new leader reconciles the head at once
        self._leading.set()
        self._gauge("leader", True)
        log.info(
            "leading: this replica polls %s and decides",
            display_url(self.mirror.url),
            extra={"event": "leading"},
        )
        return True

    def _step_down(self, reason: str) -> None:
        """Stop leading (from the leader thread only: it owns the lock's connection)."""
        self._leading.clear()
        self._waiter.abandon(reason)
        leader, self._leader = self._leader, None
        if leader is None:
            return
        _quietly(leader.release)
        self._gauge("leader", False)
        log.warning("stopped leading: %s", reason, extra={"event": "not_leading"})

    def _take_poll_request(self) -> None:
        try:
            reason = self.polls.take()
        except GitOpsError as exc:
            log.debug("cannot read poll requests: %s", exc)
            return
        if reason is not None:
            with self._lock:
                self._next_trigger = "webhook"
                self._pending = True
            log.info("reconcile requested: %s", reason, extra={"event": "trigger"})

    def _wait_for_next_poll(self) -> None:
        deadline = time.monotonic() + self.settings.poll_interval
        while self._leading.is_set() and not self._stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                if self.polls.wait(min(left, TICK_S)):
                    return
            except GitOpsError:
                self._stop.wait(TICK_S)

    def _sync_drift_jobs(self, head: str, manifest: config.Manifest) -> None:
        self.drift.sync(self._drift_intervals(manifest))
        self.heads.publish(head)
        with self._published_lock:
            self._published = (head, manifest)

    # ------------------------------------------------------------ working

    def _work_loop(self) -> None:
        while not self._stop.is_set():
            if not self._db_ok.is_set():
                self._stop.wait(TICK_S)
                continue
            try:
                worked = self._work_once()
            except GitOpsError as exc:
                log.warning("worker: %s", exc)
                worked = False
            except Exception:
                log.exception("worker failed")
                worked = False
            if not worked and not self._stop.is_set():
                self.queue.wait_queued(IDLE_S)  # woken at once by a new job

    def _work_once(self) -> bool:
        """Run one job, else one due drift check; False when there was nothing to do."""
        token = self._context().store.owner_token
        job = self.queue.claim(token)
        if job is not None:
            self._run_job(job)
            return True
        due = self.drift.claim_due(token, 1)
        if not due:
            return False
        for check in due:
            self._gauge("drift_lag", check.lag_s)
            if self._published_manifest() is not None:
                self.check_drift(check.stack)
        return True

    def _run_job(self, job: Job) -> None:
        ctx = self._context()
        try:
            self.mirror.ensure_commit(job.commit_sha, poll_interval=self.settings.poll_interval)
            outcome = passes.run_operation(
                ctx, job.stack, ActionKind(job.action), job.commit_sha, job.trigger
            )
        except GitOpsError as exc:
            # Nothing ran (the commit could not be fetched): safe to decide again.
            self.queue.finish(job.id, str(RunStatus.INTERRUPTED), str(exc))
            return
        status = outcome.status
        if status is RunStatus.SKIPPED and outcome.run_id is None:
            status = RunStatus.INTERRUPTED  # stopping: nothing ran, the leader decides again
        if outcome.run_id is not None:
            self.queue.set_run(job.id, outcome.run_id)
        self.queue.finish(job.id, str(status), outcome.error)

    def _published_manifest(self) -> config.Manifest | None:
        """The manifest of the head the leader reconciled last (drift checks use it)."""
        try:
            sha = self.heads.get()
        except GitOpsError as exc:
            log.debug("cannot read the published head: %s", exc)
            sha = None
        with self._published_lock:
            if sha is None or (self._published is not None and self._published[0] == sha):
                return self._manifest
        try:
            self.mirror.ensure_commit(sha, poll_interval=self.settings.poll_interval)
            with self._context().views.view(sha) as view:
                manifest = view.manifest
        except GitOpsError as exc:
            log.warning("cannot read the manifest of %s: %s", sha[:10], exc)
            return self._manifest
        with self._published_lock:
            self._published = (sha, manifest)
            self._manifest = manifest
        return manifest

    # ------------------------------------------------------------ housekeeping

    def _housekeeping_loop(self) -> None:
        next_sweep = next_reconnect = 0.0
        next_forget = time.monotonic() + SWEEP_S * 100
        while not self._stop.wait(TICK_S):
            now = time.monotonic()
            if not self._database_held() and now >= next_reconnect:
                # Also after a renewed lease whose registration failed: until all works.
                next_reconnect = now + RECONNECT_S
                self._reconnect()
            leader = self._leader
            if self._leading.is_set() and leader is not None and leader.lost.is_set():
                self._leading.clear()
                self._waiter.abandon("lost the leader lock (its database connection)")
            if now >= next_sweep and self._db_ok.is_set():
                next_sweep = now + SWEEP_S
                self._sweep()
            if now >= next_forget and self._leading.is_set():
                next_forget = now + SWEEP_S * 100
                _quietly(lambda: self.queue.forget_finished(FORGET_JOBS_AFTER_S))

    def _database_held(self) -> bool:
        """False from the loss of the store's lease (then stop claiming and leading)
        until a reconnection worked."""
        store = self._context().store
        if not store.lease_lost.is_set():
            return self._db_ok.is_set()
        if self._db_ok.is_set():
            self._db_ok.clear()
            self._leading.clear()
            self._waiter.abandon("the database connection was lost")
            log.warning(
                "lost the database %s: stopped leading and claiming work; reconnecting",
                self.url.display,
                extra={"event": "database_lost"},
            )
        return False

    def _reconnect(self) -> None:
        store = self._context().store
        try:
            if not store.renew_lease():
                return
            self._locks.owner_token = store.owner_token
            self.replicas.register(store.owner_token, self.host, os.getpid())
        except GitOpsError as exc:
            log.debug("still no database: %s", exc)
            return
        self._db_ok.set()
        log.info(
            "the database %s is back: working again",
            self.url.display,
            extra={"event": "database_back"},
        )

    def _sweep(self) -> None:
        try:
            self.replicas.heartbeat()
            if self._leading.is_set():
                log_interrupted(self._context().store.mark_interrupted())
                for job in self.queue.interrupt_dead():
                    log.warning(
                        "job %d (%s of %s at %s) was left running by a dead replica: "
                        "interrupted; the stack is decided again at the next pass",
                        job.id,
                        job.action,
                        job.stack,
                        job.commit_sha[:10],
                        extra={"event": "job_interrupted", "stack": job.stack},
                    )
            if self.gauges is not None:
                self.gauges.queue_jobs(
                    queued=self.queue.pending_count(), running=self.queue.running_count()
                )
                self.gauges.replicas_alive(len(self.replicas.alive()))
        except GitOpsError as exc:
            log.debug("housekeeping: %s", exc)

    def _gauge(self, name: str, value: Any) -> None:
        if self.gauges is not None:
            getattr(self.gauges, name)(value)

    # ------------------------------------------------------------ DaemonApi

    def health(self) -> dict[str, Any]:
        return {
            **super().health(),
            "leader": self._leading.is_set(),
            "database": self.url.display,
        }

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        fetch_ready, facts = super().readiness()
        leading = self._leading.is_set()
        store_ok = bool(facts["run_store_ok"])
        draining = self._context().inflight.draining
        ready = store_ok and self._db_ok.is_set() and not draining
        if leading:
            ready = ready and fetch_ready  # only the leader fetches on its own
        return ready, {
            **facts,
            "leader": leading,
            "database": self.url.display,
            "database_ok": self._db_ok.is_set(),
        }

    def trigger(self, reason: str) -> None:
        """A webhook reached this replica: whichever replica leads polls now."""
        self.polls.request(reason)
        log.info("reconcile requested: %s", reason, extra={"event": "trigger"})

    def stacks(self) -> list[StackView]:
        self._published_manifest()
        return super().stacks()


def _quietly(close: Any) -> None:
    try:
        close()
    except Exception as exc:  # a connection already gone: nothing left to release
        log.debug("release failed: %s", exc)
