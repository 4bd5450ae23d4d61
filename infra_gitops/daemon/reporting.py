"""Where the daemon's results go: events to the notifier and the log, finished runs to
metrics and git notes. The edges (notify.py, metrics.py, logs.py) plug in through the
contracts (their no-op implementations serve when they are not wired).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from datetime import datetime

from infra_gitops.daemon.contracts import Event, EventKind, Metrics, Notifier
from infra_gitops.daemon.notes import GitNotes, note_line
from infra_gitops.models import Run, RunKind, RunStatus

log = logging.getLogger("infra_gitops.daemon")


_REMEMBERED = 10_000
"""Run ids remembered as reported; a run is reported within seconds of finishing."""

_NOTED_KINDS = (RunKind.APPLY, RunKind.HEAL, RunKind.DRIFT, RunKind.DESTROY)


class Reporter:
    """Sends each event once and reports each finished run once (thread-safe)."""

    def __init__(self, notifier: Notifier, metrics: Metrics, notes: GitNotes | None) -> None:
        self.notifier = notifier
        self.metrics = metrics
        self.notes = notes
        self._lock = threading.Lock()
        self._reported: dict[str, None] = {}  # insertion-ordered: the oldest go first
        self._once: set[tuple[str, ...]] = set()

    def event(self, event: Event, *, once_key: tuple[str, ...] | None = None) -> None:
        """Log and notify; with once_key, only the first time that key is seen."""
        if once_key is not None:
            with self._lock:
                if once_key in self._once:
                    return
                self._once.add(once_key)
        level = logging.WARNING if event.kind in _WARNINGS else logging.INFO
        log.log(
            level,
            event.message,
            extra={
                "event": str(event.kind),
                "stack": event.stack,
                "commit": event.commit,
                "run_id": event.run_id,
                **{f"detail_{k}": v for k, v in event.details.items()},
            },
        )
        try:
            self.notifier.notify(event)
        except Exception:  # a notifier must never stop the reconcile loop
            log.exception("the notifier failed on a %s event", event.kind)

    def runs_finished(self, runs: Iterable[Run]) -> None:
        """Metrics and git notes for the finished runs not reported yet."""
        for run in runs:
            if run.status is RunStatus.RUNNING:
                continue
            with self._lock:
                if run.id in self._reported:
                    continue
                self._reported[run.id] = None
                if len(self._reported) > _REMEMBERED:
                    del self._reported[next(iter(self._reported))]
            duration = run.duration_s or 0.0
            self.metrics.run_finished(
                stack=run.stack, kind=str(run.kind), status=str(run.status), duration_s=duration
            )
            self.metrics.engine_step(engine=run.engine, step=str(run.kind), duration_s=duration)
            if run.finished_at:
                at = datetime.fromisoformat(run.finished_at).timestamp()
                self.metrics.reconciled(stack=run.stack, timestamp=at)
            if self.notes is not None and run.kind in _NOTED_KINDS and not run.commit.dirty:
                self.notes.append(run.commit.sha, note_line(run))


_WARNINGS = (
    EventKind.DRIFT,
    EventKind.FAILED,
    EventKind.FETCH_FAILED,
    EventKind.ORPHANED,
    EventKind.PRUNE_REFUSED,
    EventKind.BAD_COMMIT,
)
