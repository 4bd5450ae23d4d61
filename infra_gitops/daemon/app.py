"""The daemon: the mirror, the scheduler, reconcile passes and drift checks wired
together; implements DaemonApi for the HTTP server.

    with daemon_lock(state_dir), Daemon(settings, notifier=..., metrics=...) as daemon:
        daemon.run_until(stop)        # stop: a threading.Event set on SIGTERM

One daemon per state directory (an flock on <state_dir>/daemon.lock); a second one
refuses to start. Stopping drains: nothing new starts, running operations get the
grace period to finish.

This is the embedded daemon (SQLite, file locks, an in-process scheduler). Replica
(daemon/replicas.py) is the same daemon as one of several on a PostgreSQL database: it
overrides the hooks here (_open_store, _stack_locks, _executor, _stop_starting,
_drained, _sync_drift_jobs) and keeps the rest (the poll, drift checks, the API).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from infra_gitops import __version__, config, git, leftovers
from infra_gitops.core import open_core
from infra_gitops.daemon import actions, passes, records_view
from infra_gitops.daemon.changes import ChangeIndex
from infra_gitops.daemon.contracts import (
    ActionRefused,
    Event,
    EventKind,
    LogChunk,
    Metrics,
    Notifier,
    StackAction,
    StackDetail,
    StackView,
)
from infra_gitops.daemon.metrics import NullMetrics
from infra_gitops.daemon.mirror import Mirror, display_url
from infra_gitops.daemon.notes import GitNotes
from infra_gitops.daemon.notify import NullNotifier
from infra_gitops.daemon.reporting import Reporter
from infra_gitops.daemon.runtime import LogProgress, Settings
from infra_gitops.daemon.scheduler import DaemonScheduler
from infra_gitops.daemon.status import RECENT_RUNS, declared_views, derive_view
from infra_gitops.daemon.unmanaged_scans import UnmanagedScans
from infra_gitops.errors import GitOpsError, RunStoreError
from infra_gitops.models import Run
from infra_gitops.runs import DB_NAME, RunStore
from infra_gitops.view import ViewCache

if TYPE_CHECKING:
    from infra_gitops.coordination.locks import StackLocks

log = logging.getLogger("infra_gitops.daemon")

LOCK_NAME = "daemon.lock"


@contextmanager
def daemon_lock(state_dir: Path) -> Iterator[None]:
    """Hold <state_dir>/daemon.lock for the block; a clear error when another daemon has it."""
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = state_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise GitOpsError(
                f"another infra-gitops daemon is already running on the state dir {state_dir} "
                f"({_lock_holder(path)}); stop it first, or give this one another --state-dir"
            ) from None
        os.ftruncate(fd, 0)
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _lock_holder(path: Path) -> str:
    try:
        holder = json.loads(path.read_text(encoding="utf-8"))
        return f"pid {holder['pid']} on host {holder['host']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "holder unknown"


def log_interrupted(runs: Iterable[Run]) -> None:
    for run in runs:
        log.warning(
            "run %s of %s was left running by a dead process: interrupted; the stack "
            "will be reconciled again",
            run.id,
            run.stack,
            extra={"event": "interrupted", "stack": run.stack, "run_id": run.id},
        )


class Daemon:
    """Implements DaemonApi. Use as a context manager: it opens the core (run store,
    target and provider process, engines, outputs of stacks) once for its life, and
    keeps a cache of commit views shared by its passes and drift checks."""

    def __init__(
        self,
        settings: Settings,
        *,
        notifier: Notifier | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.notifier: Notifier = notifier or NullNotifier()
        self.metrics: Metrics = metrics or NullMetrics()
        self.mirror = Mirror(
            settings.state_dir, settings.repo, settings.branch, token_file=settings.repo_token_file
        )
        self._exit = ExitStack()
        self._ctx: passes.Context | None = None
        self._scheduler: DaemonScheduler | None = None
        self._manifest: config.Manifest | None = None
        self._done_head: str | None = None
        self._pending = True
        self._crashed_head: str | None = None
        self._next_trigger = "daemon:commit"
        self._started = time.time()
        self._reported_attempt: float | None = None
        self._lock = threading.Lock()
        self._acting: set[str] = set()
        """Stacks with an action a person asked for, accepted and not done yet."""
        self._unmanaged = UnmanagedScans(self.metrics)

    # ------------------------------------------------------------ lifecycle

    def __enter__(self) -> Daemon:
        store = self._open_store()
        log_interrupted(store.mark_interrupted())
        swept = leftovers.sweep(self.settings.state_dir)
        if swept:
            log.info(
                "removed %d snapshot(s) and plan file(s) left by dead processes",
                len(swept),
                extra={"event": "swept"},
            )
        self.mirror.open().close()
        # The long-lived core: one store, one target and provider process, one set of
        # engines and one outputs cache for the daemon's life.
        core = self._exit.enter_context(
            open_core(
                self.settings.state_dir,
                LogProgress(),
                timeout=self.settings.timeout,
                store=store,
                locks=self._stack_locks(store),
            )
        )
        views = ViewCache(self.mirror.path, self.settings.state_dir)
        self._exit.callback(views.close)
        notes = GitNotes(
            self.mirror.path, push=self.settings.push_notes, push_env=self.mirror.remote.env()
        )
        self._ctx = passes.Context(
            settings=self.settings,
            core=core,
            views=views,
            mirror=self.mirror,
            changes=ChangeIndex(self.mirror.path, self.settings.state_dir / "daemon" / "scratch"),
            reporter=Reporter(self.notifier, self.metrics, notes),
            executor=self._executor(),
        )
        return self

    def _open_store(self) -> RunStore:
        """The run records (SQLite in the state dir), open for the daemon's life."""
        # A mirror without records: this state dir had a daemon whose history is gone.
        history_lost = (self.mirror.path / "HEAD").exists() and not (
            self.settings.state_dir / DB_NAME
        ).exists()
        store = self._exit.enter_context(RunStore.open(self.settings.state_dir))
        if history_lost:
            log.warning(
                "no run records in %s although a daemon ran there (its mirror is there): "
                "starting a new history; every stack is reconciled as if never applied",
                self.settings.state_dir,
                extra={"event": "history_lost"},
            )
        return store

    def _stack_locks(self, store: RunStore) -> StackLocks | None:
        """The stack locks of the core (None: file locks in the state dir)."""
        return None

    def _executor(self) -> passes.Executor:
        """How passes carry their operations out: here, in this process."""
        return passes.LocalExecutor()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown()
        self._exit.close()

    def start(self) -> None:
        """Start polling and drift checks in the background."""
        self._scheduler = DaemonScheduler(
            poll=self.poll,
            poll_interval=self.settings.poll_interval,
            drift=self.check_drift,
            workers=self.settings.parallelism + 1,
        )
        self._scheduler.start()
        if git.token_in_url(self.settings.repo, self.mirror.remote):
            log.warning(
                "the --repo URL holds a token: it is kept out of the mirror and of git's "
                "command lines, but this daemon's own command line shows it; give it with "
                "--repo-token-file or $%s instead",
                git.TOKEN_ENV,
                extra={"event": "token_in_url"},
            )
        log.info(
            "infra-gitops %s daemon: watching %s branch %s every %gs (state dir %s)",
            __version__,
            display_url(self.mirror.url),
            self.settings.branch,
            self.settings.poll_interval,
            self.settings.state_dir,
            extra={"event": "started"},
        )

    def drain(self) -> bool:
        """Stop starting runs; wait (grace period) for running ones. True when all ended."""
        self._stop_starting()
        ctx = self._context()
        running = ctx.inflight.count
        log.info(
            "stopping: no new runs; waiting up to %gs for %d running operation(s)",
            self.settings.grace_period,
            running,
            extra={"event": "draining", "running": running},
        )
        finished = ctx.inflight.drain(self.settings.grace_period)
        self._drained()
        self.notifier.close()
        return finished

    def _stop_starting(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown()

    def _drained(self) -> None:
        """After the running operations ended (or the grace period did)."""

    # ------------------------------------------------------------ jobs

    def poll(self) -> None:
        """Fetch; reconcile when the branch moved or something is pending."""
        ctx = self._context()
        if ctx.inflight.draining:
            return
        with self._lock:
            trigger, self._next_trigger = self._next_trigger, "daemon:commit"
        head = self.mirror.fetch(
            poll_interval=self.settings.poll_interval, force=trigger == "webhook"
        )
        self._report_fetch()
        # From the poll: only the leader of replicas polls, so only it scans.
        self._unmanaged.poll(ctx, self._done_head, self._manifest)
        if head is None or (head == self._done_head and not self._pending):
            return
        if self._store_unusable():
            with self._lock:
                self._pending = True  # reconciled once the records can be used again
            return
        try:
            result = passes.reconcile_commit(ctx, head, trigger, self._manifest)
        except passes.PassAbandoned:
            with self._lock:
                self._pending = True
            raise
        except Exception:
            # A bug: its traceback once per commit, not at every poll that retries it.
            if head != self._crashed_head:
                log.exception("reconcile pass over %s failed", head[:10])
            self._crashed_head = head
            return
        if result.manifest is not None:
            self._manifest = result.manifest
            self._sync_drift_jobs(head, result.manifest)
            self.metrics.stacks_declared(len(result.manifest.stacks))
        self._done_head, self._pending = head, result.pending
        self._report_status()

    def check_drift(self, name: str) -> None:
        manifest = self._manifest
        if manifest is None or self._store_unusable():
            return
        try:
            passes.check_drift(self._context(), name, manifest)
        except GitOpsError as exc:
            log.warning("%s: drift check not run: %s", name, exc, extra={"stack": name})
        except Exception:
            log.exception("%s: drift check failed", name)
        self._report_stack_status(name, manifest)

    # ------------------------------------------------------------ DaemonApi

    def health(self) -> Mapping[str, Any]:
        ctx = self._context()
        return {
            "status": "ok" if not ctx.inflight.draining else "draining",
            "version": __version__,
            "uptime_s": round(time.time() - self._started, 1),
            "running_operations": ctx.inflight.count,
            "head": self._done_head,
        }

    def readiness(self) -> tuple[bool, Mapping[str, Any]]:
        state = self.mirror.state
        now = time.time()
        age = None if state.last_success is None else round(now - state.last_success, 1)
        limit = self.settings.staleness_limit
        store_error = self._store_error()
        ready = (
            store_error is None
            and state.last_success is not None
            and not self._context().inflight.draining
            and (state.last_ok or (age is not None and age <= limit))
        )
        return ready, {
            "run_store_ok": store_error is None,
            "run_store_error": store_error,
            "last_fetch_ok": state.last_ok,
            "last_successful_fetch_age_s": age,
            "stale_after_s": limit,
            "consecutive_fetch_failures": state.consecutive_failures,
            "last_fetch_error": state.last_error,
            "head": state.head,
            "branch": self.settings.branch,
            "remote": display_url(self.mirror.url),
        }

    def trigger(self, reason: str) -> None:
        with self._lock:
            self._next_trigger = "webhook"
            self._pending = True
        log.info("reconcile requested: %s", reason, extra={"event": "trigger"})
        if self._scheduler is not None:
            self._scheduler.trigger()

    def stacks(self) -> list[StackView]:
        return declared_views(self._context().store, self._manifest)

    def act(
        self, stack: str, action: str, actor: str, commit: str | None = None
    ) -> Mapping[str, Any]:
        ctx, manifest = self._context(), self._manifest
        with self._lock:
            if stack in self._acting:
                raise ActionRefused(409, f"{stack}: an asked action on it is not done yet")
            self._acting.add(stack)
        try:
            accepted, work = actions.prepare(
                ctx, manifest, self._done_head, stack, StackAction(action), actor, commit
            )
        except BaseException:
            self._done_acting(stack)
            raise
        log.info(
            "%s: %s by %s accepted at %s",
            stack,
            accepted.trigger,
            actor,
            accepted.commit[:10],
            extra={"event": "action", "stack": stack, "commit": accepted.commit},
        )
        # prepare() refuses before the first pass, which the started scheduler runs.
        assert manifest is not None and self._scheduler is not None
        if work is None:
            self._done_acting(stack)
            self._report_stack_status(stack, manifest)
            return accepted.to_dict()

        def run() -> None:
            try:
                work()
            except Exception:
                log.exception("%s: %s failed", stack, accepted.trigger, extra={"stack": stack})
            finally:
                self._done_acting(stack)
            self._report_stack_status(stack, manifest)

        self._scheduler.run_once(run)
        return accepted.to_dict()

    def _done_acting(self, stack: str) -> None:
        with self._lock:
            self._acting.discard(stack)

    def stack(self, name: str) -> StackDetail:
        return records_view.stack_detail(self._context().store, self._manifest, name)

    def history(self, name: str, limit: int) -> list[Run]:
        return records_view.history(self._context().store, self._manifest, name, limit)

    def run(self, run_id: str) -> Run:
        return records_view.run(self._context().store, run_id)

    def run_log(self, run_id: str, offset: int) -> LogChunk:
        return records_view.run_log(self._context().store, self.settings.state_dir, run_id, offset)

    def graph(self) -> Mapping[str, tuple[str, ...]]:
        return records_view.graph(self._manifest)

    def environments(self) -> list[dict[str, Any]]:
        from infra_gitops.promotion.overview import environments

        manifest = self._manifest
        if manifest is None:
            return []
        views = {v.name: v for v in self.stacks()}
        return [e.to_dict() for e in environments(manifest, views, self.mirror.path)]

    # ------------------------------------------------------------ internals

    def _context(self) -> passes.Context:
        if self._ctx is None:
            raise RuntimeError("the daemon is not open (use it as a context manager)")
        return self._ctx

    def _store_error(self) -> str | None:
        try:
            self._context().store.check()
        except RunStoreError as exc:
            return str(exc)
        return None

    def _store_unusable(self) -> bool:
        """Whether the run records cannot be used now; alerts once per problem.

        Nothing is planned, applied or pruned meanwhile: without its history every stack
        would look new (and an apply or prune act on a wrong belief).
        """
        problem = self._store_error()
        if problem is None:
            return False
        self._context().reporter.event(
            Event(
                EventKind.FAILED,
                f"{problem}; the daemon acts on nothing and reports unready until then",
                details={"run_store": str(self.settings.state_dir)},
            ),
            once_key=("run-store", problem),
        )
        return True

    def _sync_drift_jobs(self, head: str, manifest: config.Manifest) -> None:
        """head's manifest is the one drift checks use from now on."""
        if self._scheduler is None:
            return
        self._scheduler.sync_drift_jobs(self._drift_intervals(manifest))

    def _drift_intervals(self, manifest: config.Manifest) -> dict[str, float]:
        override = self.settings.drift_interval
        return {s.name: float(override or s.policy.drift_interval) for s in manifest.stacks}

    def _report_fetch(self) -> None:
        state = self.mirror.state
        if state.last_attempt is None or state.last_attempt == self._reported_attempt:
            return  # no new attempt (backing off)
        self._reported_attempt = state.last_attempt
        self.metrics.fetch(ok=state.last_ok, timestamp=state.last_attempt)
        if not state.last_ok:
            self._context().reporter.event(
                Event(
                    EventKind.FETCH_FAILED,
                    f"{state.last_error} (attempt {state.consecutive_failures}; retrying "
                    "with backoff; the last good state is kept)",
                    details={"consecutive_failures": state.consecutive_failures},
                ),
                once_key=("fetch-failed", str(state.last_success)),
            )

    def _report_stack_status(self, name: str, manifest: config.Manifest) -> None:
        """One stack's status metric, from its own records only (a drift check must not
        cost a walk over every stack)."""
        try:
            store = self._context().store
            runs = store.recent_runs_by_stack([name], per_stack=RECENT_RUNS)[name]
            engine = manifest.stack(name).engine if name in manifest.names else ""
            view = derive_view(name, runs, store.stack_state(name), engine)
            self.metrics.stack_status(stack=view.name, status=view.status)
        except GitOpsError as exc:
            log.warning("cannot read the status of %s: %s", name, exc)

    def _report_status(self) -> None:
        try:
            for view in self.stacks():
                self.metrics.stack_status(stack=view.name, status=view.status)
        except GitOpsError as exc:
            log.warning("cannot read stack status: %s", exc)
