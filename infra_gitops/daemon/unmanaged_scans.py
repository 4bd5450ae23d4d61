"""The daemon's scans for resources no stack manages, on the manifest's
`unmanaged.interval`: started from the poll (so only the leader of replicas scans), one
at a time, in the background; the gauge per type after each scan, and an event when the
findings change (new ones named). A failed scan is logged and counted, nothing else."""

from __future__ import annotations

import logging
import threading
import time

from infra_gitops import config
from infra_gitops.ci.store import default_location
from infra_gitops.daemon.contracts import Event, EventKind, Metrics
from infra_gitops.daemon.passes import Context
from infra_gitops.errors import GitOpsError
from infra_gitops.unmanaged.scan import Finding, ScanResult, ScanScope, scan, store_buckets

log = logging.getLogger("infra_gitops.daemon.unmanaged")

LOCK_WAIT_S = 60.0
"""How long a scan waits for a stack a run holds before its state counts as unreadable
(the scan then fails, and the next one tries again)."""
NAMED = 10
"""New findings named in one event; the rest are counted."""


class UnmanagedScans:
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._lock = threading.Lock()
        self._running = False
        self._last_start: float | None = None
        self._known: frozenset[tuple[str, str, str]] | None = None
        """(type, region, identifier) of the findings of the last good scan."""

    def poll(self, ctx: Context, head: str | None, manifest: config.Manifest | None) -> None:
        """Start a scan of head in the background when one is due."""
        interval = manifest.unmanaged.interval_s if manifest is not None else None
        if head is None or manifest is None or interval is None or ctx.inflight.draining:
            return
        now = time.monotonic()
        with self._lock:
            if self._running or (
                self._last_start is not None and now - self._last_start < interval
            ):
                return
            self._running, self._last_start = True, now
        threading.Thread(
            target=self._scan, args=(ctx, head), name="unmanaged-scan", daemon=True
        ).start()

    def _scan(self, ctx: Context, head: str) -> None:
        try:
            with ctx.inflight.run() as allowed:
                if allowed:
                    self._report(ctx, head, _scan_commit(ctx, head))
        except GitOpsError as exc:
            self._metrics.unmanaged_scan_failed()
            log.warning("scan for unmanaged resources failed: %s", exc, extra={"commit": head})
        except Exception:
            self._metrics.unmanaged_scan_failed()
            log.exception("scan for unmanaged resources failed")
        finally:
            with self._lock:
                self._running = False

    def _report(self, ctx: Context, head: str, result: ScanResult) -> None:
        counts = dict.fromkeys(result.scanned_types, 0)
        for finding in result.findings:
            counts[finding.type] = counts.get(finding.type, 0) + 1
        self._metrics.unmanaged_resources(counts)
        found = {_key(f): f for f in result.findings}
        before, self._known = self._known, frozenset(found)
        new = [f for key, f in found.items() if before is None or key not in before]
        gone = len(before - set(found)) if before is not None else 0
        if new or gone:
            ctx.reporter.event(_event(head, new, gone, len(found)))


def _scan_commit(ctx: Context, head: str) -> ScanResult:
    with ctx.at_commit(head, "daemon:unmanaged", lock_wait=LOCK_WAIT_S) as (view, runner):
        return scan(
            ScanScope(
                runner=runner,
                manifest=view.manifest,
                source_of=lambda stack: view.source_of(stack).root,
                target=ctx.core.target,
                selected=view.manifest.stacks,
                infra_buckets=store_buckets(
                    default_location(ctx.settings.state_dir, ctx.core.target.base_env),
                    ctx.settings.artifact_store,
                ),
                parallelism=ctx.settings.parallelism,
            )
        )


def _key(finding: Finding) -> tuple[str, str, str]:
    return (finding.type, finding.region, finding.identifier)


def _event(head: str, new: list[Finding], gone: int, total: int) -> Event:
    named = ", ".join(f"{f.type} {f.identifier}" for f in new[:NAMED])
    more = f" and {len(new) - NAMED} more" if len(new) > NAMED else ""
    parts = [f"{len(new)} new: {named}{more}"] if new else []
    parts += [f"{gone} no longer unmanaged"] if gone else []
    return Event(
        EventKind.UNMANAGED,
        f"resources no stack manages: {total} ({'; '.join(parts)})",
        commit=head,
        details={
            "total": total,
            "new": [{"type": f.type, "identifier": f.identifier, "region": f.region} for f in new],
            "gone": gone,
        },
    )
