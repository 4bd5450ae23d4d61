"""What the web UI reads of the daemon's records: a stack with its diffs, its history,
one run, a run's log as it grows, the dependency graph. The daemon's side of the
DaemonApi reads (daemon/app.py delegates here); the edge only calls DaemonApi.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from infra_gitops.config import Manifest
from infra_gitops.daemon.contracts import LogChunk, NotFound, StackDetail
from infra_gitops.daemon.status import RECENT_RUNS, derive_view, diff_runs
from infra_gitops.errors import RunStoreError
from infra_gitops.models import Run, RunStatus, unexpected
from infra_gitops.runs import LOG_ARTIFACT, RunStore

LOG_DIR = "logs"
"""Where a running run's log grows: STATE_DIR/logs/RUN_ID.log (stackrun.py)."""
MAX_CHUNK = 256 * 1024
"""Bytes of a log read at once: a long log streams in pieces, never all into memory."""


def known_stack(store: RunStore, manifest: Manifest | None, name: str) -> None:
    """NotFound unless the manifest declares name or the records track it."""
    if manifest is not None and manifest.declares(name):
        return
    if name in store.stack_states() or store.latest(name) is not None:
        return
    raise NotFound(f"no stack {name!r}")


def stack_detail(store: RunStore, manifest: Manifest | None, name: str) -> StackDetail:
    known_stack(store, manifest, name)
    declared = manifest.stack(name) if manifest is not None and manifest.declares(name) else None
    runs = store.recent_runs_by_stack([name], per_stack=RECENT_RUNS)[name]
    view = derive_view(name, runs, store.stack_state(name), declared.engine if declared else "")
    drift, plan = diff_runs(runs)
    return StackDetail(
        view=view,
        depends_on=declared.depends_on if declared else (),
        drift=unexpected(drift.drift) if drift else (),
        drift_run_id=drift.id if drift else None,
        changes=plan.changes if plan else (),
        changes_run_id=plan.id if plan else None,
    )


def history(store: RunStore, manifest: Manifest | None, name: str, limit: int) -> list[Run]:
    known_stack(store, manifest, name)
    return store.list(name, limit=limit)


def run(store: RunStore, run_id: str) -> Run:
    try:
        return store.get(run_id)
    except RunStoreError:
        store.check()  # the records being away is not "no such run"
        raise NotFound(f"no run {run_id!r}") from None


def run_log(store: RunStore, state_dir: Path, run_id: str, offset: int) -> LogChunk:
    """The log from offset on. While the run runs, its growing file; once it ended, its
    stored artifact (the runner moves the file there as it closes the record)."""
    record = run(store, run_id)
    if record.status is RunStatus.RUNNING:
        try:
            with (state_dir / LOG_DIR / f"{record.id}.log").open("rb") as f:
                f.seek(offset)
                data = f.read(MAX_CHUNK)
            return LogChunk(record.stack, data, offset + len(data), None)
        except FileNotFoundError:
            record = run(store, run_id)  # it just ended: the log is stored now
            if record.status is RunStatus.RUNNING:
                return LogChunk(record.stack, b"", offset, None)
    stored = store.read_artifact(record.id, LOG_ARTIFACT) if record.log_artifact else b""
    data = stored[offset : offset + MAX_CHUNK]
    ended = offset + len(data) >= len(stored)
    return LogChunk(record.stack, data, offset + len(data), str(record.status) if ended else None)


def graph(manifest: Manifest | None) -> Mapping[str, tuple[str, ...]]:
    return {s.name: s.depends_on for s in manifest.stacks} if manifest else {}
