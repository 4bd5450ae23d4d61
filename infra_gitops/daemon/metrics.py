"""Prometheus metrics for the daemon (the Metrics protocol of contracts.py).

Each PrometheusMetrics owns its CollectorRegistry: never the process-global one, so two
daemons (or many tests) in one process do not collide over metric names.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Mapping

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)

from infra_gitops.daemon.contracts import SyncStatus

PREFIX = "infra_gitops"

# Engine steps go from ~0.3 s (a reattached plan) to many minutes (a big apply).
STEP_BUCKETS = (0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)


class PrometheusMetrics:
    """Records what the core reports; `registry` is what the server exposes on /metrics."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        # Operators expect process_resident_memory_bytes & co. next to the app's metrics.
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self._lock = threading.Lock()
        self._statuses: dict[str, SyncStatus] = {}
        self._unmanaged_types: set[str] = set()
        r = self.registry
        # Labelled by kind and status only: per-stack run counts would multiply the series
        # by the number of stacks; per-stack facts are the status and timestamp gauges.
        self._runs = Counter(
            f"{PREFIX}_runs",
            "Runs finished, by kind and final status.",
            ["kind", "status"],
            registry=r,
        )
        self._run_seconds = Histogram(
            f"{PREFIX}_run_duration_seconds",
            "Duration of finished runs, by kind.",
            ["kind"],
            buckets=STEP_BUCKETS,
            registry=r,
        )
        self._status = Gauge(
            f"{PREFIX}_stack_status",
            "1 for the stack's current sync status, 0 for the others (one-hot).",
            ["stack", "status"],
            registry=r,
        )
        self._drifted = Gauge(
            f"{PREFIX}_stacks_drifted", "Stacks whose live state differs from Git.", registry=r
        )
        self._reconciled = Gauge(
            f"{PREFIX}_stack_last_reconcile_timestamp_seconds",
            "Unix time of the stack's last reconcile.",
            ["stack"],
            registry=r,
        )
        self._steps = Histogram(
            f"{PREFIX}_engine_step_duration_seconds",
            "Duration of engine commands (init, plan, apply...), by engine and step.",
            ["engine", "step"],
            buckets=STEP_BUCKETS,
            registry=r,
        )
        self._fetches = Counter(f"{PREFIX}_fetches", "Git fetches attempted.", registry=r)
        self._fetch_failures = Counter(
            f"{PREFIX}_fetch_failures", "Git fetches that failed.", registry=r
        )
        self._last_fetch = Gauge(
            f"{PREFIX}_last_successful_fetch_timestamp_seconds",
            "Unix time of the last successful Git fetch (0: none yet).",
            registry=r,
        )
        self._declared = Gauge(
            f"{PREFIX}_stacks_declared", "Stacks declared in the manifest.", registry=r
        )
        self._unmanaged = Gauge(
            f"{PREFIX}_unmanaged_resources",
            "Resources no stack manages, by type, at the last scan (`unmanaged`).",
            ["type"],
            registry=r,
        )
        self._unmanaged_failures = Counter(
            f"{PREFIX}_unmanaged_scan_failures",
            "Scans for unmanaged resources that failed.",
            registry=r,
        )

    def run_finished(self, *, stack: str, kind: str, status: str, duration_s: float) -> None:
        self._runs.labels(kind=kind, status=status).inc()
        self._run_seconds.labels(kind=kind).observe(max(0.0, duration_s))

    def stack_status(self, *, stack: str, status: SyncStatus) -> None:
        with self._lock:  # the one-hot set and the drift count change together
            self._statuses[stack] = status
            for each in SyncStatus:
                self._status.labels(stack=stack, status=each.value).set(
                    1.0 if each is status else 0.0
                )
            self._update_drifted()

    def reconciled(self, *, stack: str, timestamp: float) -> None:
        self._reconciled.labels(stack=stack).set(timestamp)

    def engine_step(self, *, engine: str, step: str, duration_s: float) -> None:
        self._steps.labels(engine=engine, step=step).observe(max(0.0, duration_s))

    def fetch(self, *, ok: bool, timestamp: float) -> None:
        self._fetches.inc()
        if ok:
            self._last_fetch.set(timestamp)
        else:
            self._fetch_failures.inc()

    def stacks_declared(self, count: int) -> None:
        self._declared.set(count)

    def unmanaged_resources(self, counts: Mapping[str, int]) -> None:
        with self._lock:
            for type_ in self._unmanaged_types - set(counts):
                self._unmanaged.remove(type_)  # no longer scanned: no stale series
            for type_, count in counts.items():
                self._unmanaged.labels(type=type_).set(count)
            self._unmanaged_types = set(counts)

    def unmanaged_scan_failed(self) -> None:
        self._unmanaged_failures.inc()

    def forget_stack(self, stack: str) -> None:
        """Drop a stack's series (it left the manifest and was pruned): not in the
        Metrics protocol, which needs no removal; stale series would stay forever."""
        with self._lock:
            if self._statuses.pop(stack, None) is None:
                return
            for each in SyncStatus:
                self._status.remove(stack, each.value)
            self._update_drifted()
        with contextlib.suppress(KeyError):
            self._reconciled.remove(stack)

    def _update_drifted(self) -> None:
        drifted = sum(1 for s in self._statuses.values() if s is SyncStatus.DRIFTED)
        self._drifted.set(drifted)


class NullMetrics:
    """Metrics that record nothing (a daemon embedded where nobody scrapes)."""

    def run_finished(self, *, stack: str, kind: str, status: str, duration_s: float) -> None:
        pass

    def stack_status(self, *, stack: str, status: SyncStatus) -> None:
        pass

    def reconciled(self, *, stack: str, timestamp: float) -> None:
        pass

    def engine_step(self, *, engine: str, step: str, duration_s: float) -> None:
        pass

    def fetch(self, *, ok: bool, timestamp: float) -> None:
        pass

    def stacks_declared(self, count: int) -> None:
        pass

    def unmanaged_resources(self, counts: Mapping[str, int]) -> None:
        pass

    def unmanaged_scan_failed(self) -> None:
        pass


class ReplicaGauges:
    """What a replica on a shared database reports besides the Metrics protocol: whether
    it leads, the shared queue, how late drift checks start, the live replicas."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self._leader = Gauge(
            f"{PREFIX}_replica_leader",
            "1 while this replica leads (polls Git and decides), else 0.",
            registry=r,
        )
        self._jobs = Gauge(
            f"{PREFIX}_queue_jobs",
            "Jobs in the shared queue of this repo branch, by state (queued, running).",
            ["state"],
            registry=r,
        )
        self._drift_lag = Gauge(
            f"{PREFIX}_drift_lag_seconds",
            "How late the last drift check this replica claimed started (claim - due time).",
            registry=r,
        )
        self._replicas = Gauge(
            f"{PREFIX}_replicas_alive",
            "Replicas alive on the shared database for this repo branch.",
            registry=r,
        )

    def leader(self, leading: bool) -> None:
        self._leader.set(1.0 if leading else 0.0)

    def queue_jobs(self, *, queued: int, running: int) -> None:
        self._jobs.labels(state="queued").set(queued)
        self._jobs.labels(state="running").set(running)

    def drift_lag(self, seconds: float) -> None:
        self._drift_lag.set(max(0.0, seconds))

    def replicas_alive(self, count: int) -> None:
        self._replicas.set(count)
