"""The seams between the daemon's core (mirror, reconcile, scheduler) and its edges
(HTTP server, metrics, notifications, logs). The core depends on these protocols only;
the edges implement them. Two developers build the two sides at the same time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from infra_gitops.errors import GitOpsError
from infra_gitops.models import ResourceChange, Run


class SyncStatus(StrEnum):
    """A stack's state, named as Argo CD names an application's."""

    SYNCED = "Synced"
    OUT_OF_SYNC = "OutOfSync"
    """A newer commit changes the stack and it is not applied (no auto-apply, a sync
    window holds it, or auto-apply is paused after a rollback)."""
    DRIFTED = "Drifted"
    """Live differs from what the last applied commit declared."""
    PROGRESSING = "Progressing"
    FAILED = "Failed"
    ORPHANED = "Orphaned"
    """Removed from the manifest, still deployed (prune is off or needs a person's
    confirmation, or a guard or a sync window holds the prune)."""
    RENAMED = "Renamed"
    """Removed from the manifest because a new name took its place (same path, engine and
    workspace): never pruned for it."""
    UNKNOWN = "Unknown"
    """Never reconciled yet."""


class EventKind(StrEnum):
    DRIFT = "drift"
    HEALED = "healed"
    APPLIED = "applied"
    FAILED = "failed"
    ORPHANED = "orphaned"
    PRUNED = "pruned"
    HELD = "held"
    """An apply or a prune held by a sync window or a pause."""
    PRUNE_REFUSED = "prune_refused"
    """A commit would prune more stacks than the manifest's prune limits allow."""
    RENAMED = "renamed"
    BAD_COMMIT = "bad_commit"
    """A commit that cannot be used (invalid manifest, unsafe files): not applied."""
    FETCH_FAILED = "fetch_failed"
    PAUSED = "paused"
    """Auto-apply of a stack paused by a person (the API's pause)."""
    RESUMED = "resumed"
    UNMANAGED = "unmanaged"
    """The resources no stack manages changed (a scan found new ones, or some went)."""


@dataclass(frozen=True)
class Event:
    """Something an operator may want to hear about (notifications, JSON log lines)."""

    kind: EventKind
    message: str
    stack: str | None = None
    commit: str | None = None
    run_id: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    """Small, redacted, JSON-serializable facts (counts, changed addresses)."""


class Notifier(Protocol):
    def notify(self, event: Event) -> None:
        """Deliver in the background; never blocks or raises into the reconcile loop."""

    def close(self, timeout: float = 5.0) -> None:
        """Flush what is queued, within timeout."""


class Metrics(Protocol):
    """What the core reports; the edge exposes it on /metrics (prometheus-client)."""

    def run_finished(self, *, stack: str, kind: str, status: str, duration_s: float) -> None: ...

    def stack_status(self, *, stack: str, status: SyncStatus) -> None: ...

    def reconciled(self, *, stack: str, timestamp: float) -> None: ...

    def engine_step(self, *, engine: str, step: str, duration_s: float) -> None: ...

    def fetch(self, *, ok: bool, timestamp: float) -> None: ...

    def stacks_declared(self, count: int) -> None: ...

    def unmanaged_resources(self, counts: Mapping[str, int]) -> None:
        """Resources no stack manages, by type, as the last scan found them."""

    def unmanaged_scan_failed(self) -> None: ...


class StackAction(StrEnum):
    """What a person may ask of the daemon about one stack (daemon/actions.py)."""

    SYNC = "sync"
    REFRESH = "refresh"
    HEAL = "heal"
    PAUSE = "pause"
    RESUME = "resume"
    ROLLBACK = "rollback"


class ActionRefused(GitOpsError):
    """An action not accepted; http_status says how the API answers (404 or 409)."""

    def __init__(self, http_status: int, message: str) -> None:
        super().__init__(message)
        self.http_status = http_status


class NotFound(GitOpsError):
    """An unknown stack or run: the API answers 404 with the message."""


@dataclass(frozen=True)
class StackView:
    """One stack as `status`, /api/stacks and metrics show it."""

    name: str
    status: SyncStatus
    engine: str
    applied_commit: str | None
    """SHA of the last commit applied (or found to need no change) for this stack."""
    desired_commit: str | None
    """SHA of the newest commit seen that declares the stack."""
    last_drift_check: str | None
    """ISO time of the last drift check."""
    last_run_id: str | None
    message: str = ""
    """Why it is in this status (a failure, a held apply, orphaned...)."""
    auto_apply_paused: bool = False


class DaemonApi(Protocol):
    """What the HTTP server asks of the running daemon."""

    def health(self) -> Mapping[str, Any]:
        """Liveness facts (always answerable while the process serves)."""

    def readiness(self) -> tuple[bool, Mapping[str, Any]]:
        """Ready when the last successful fetch is recent enough; with its age."""

    def trigger(self, reason: str) -> None:
        """Reconcile now (a push webhook arrived): returns at once."""

    def stacks(self) -> list[StackView]: ...

    def act(
        self, stack: str, action: str, actor: str, commit: str | None = None
    ) -> Mapping[str, Any]:
        """Carry out a person's action on a stack (daemon/actions.py), or start it in
        the background: what was accepted (action, stack, commit, trigger, actor, done);
        ActionRefused (400, 404, 409) with the reason otherwise. commit: the rollback's
        target."""

    def stack(self, name: str) -> StackDetail:
        """One stack with what is out of sync or drifted, resource by resource; NotFound
        for a stack neither declared nor tracked."""

    def history(self, name: str, limit: int) -> list[Run]:
        """The stack's newest runs (newest first); NotFound for an unknown stack."""

    def run(self, run_id: str) -> Run:
        """One run by id (or unique prefix); NotFound when there is none."""

    def run_log(self, run_id: str, offset: int) -> LogChunk:
        """The run's log from byte offset on: the live log while it runs, then the
        stored one; NotFound for an unknown run."""

    def graph(self) -> Mapping[str, tuple[str, ...]]:
        """Each stack of the manifest the daemon last read, with the stacks it depends
        on (depends_on and from_stack)."""

    def environments(self) -> list[dict[str, Any]]:
        """Each environment of each stack with environments, as promotion/overview.py
        documents it (pin, what it runs, status, what waits to be promoted into it)."""


@dataclass(frozen=True)
class StackDetail:
    """A stack for its page: its view, and the resource changes behind its status."""

    view: StackView
    depends_on: tuple[str, ...] = ()
    drift: tuple[ResourceChange, ...] = ()
    """What changed outside Git, from the newest drift check since the last apply that
    found drift (empty once healed or applied)."""
    drift_run_id: str | None = None
    changes: tuple[ResourceChange, ...] = ()
    """What the desired commit would change, from the newest plan since the last apply."""
    changes_run_id: str | None = None


@dataclass(frozen=True)
class LogChunk:
    """A piece of a run's log (already scrubbed of secrets by the runner)."""

    stack: str
    data: bytes
    next_offset: int
    final_status: str | None
    """The run's status once it has ended and this piece reaches the log's end; None
    while it runs or more of the log follows."""
