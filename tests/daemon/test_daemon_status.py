"""A stack's sync status from its run records and the daemon's state of it."""

from __future__ import annotations

from pathlib import Path

from infra_gitops.daemon.contracts import SyncStatus
from infra_gitops.daemon.status import derive_view, stack_views
from infra_gitops.models import Commit, ResourceChange, RunKind, RunStatus
from infra_gitops.runs import RunStore

ONE = Commit("1" * 40, "A", "a@x", "2026-01-01T00:00:00+00:00", "one")
TWO = Commit("2" * 40, "A", "a@x", "2026-01-02T00:00:00+00:00", "two")
DRIFT = ResourceChange.from_dict(
    {"address": "aws_s3_bucket.b", "type": "aws_s3_bucket", "name": "b", "action": "update"}
)


def _record(store: RunStore, kind: RunKind, status: RunStatus, commit: Commit = ONE) -> str:
    run = store.start("s", kind, "daemon:commit", commit, "terraform")
    drift = (DRIFT,) if status is RunStatus.DRIFTED else ()
    store.finish(run.id, status, drift=drift, error="boom" if status is RunStatus.FAILED else None)
    return run.id


def _status(store: RunStore) -> tuple[SyncStatus, str]:
    view = derive_view("s", store.list(stack="s"), store.stack_states().get("s"))
    return view.status, view.message


def test_the_life_of_a_stack(tmp_path: Path) -> None:
    with RunStore.open(tmp_path) as store:
        assert _status(store)[0] is SyncStatus.UNKNOWN
        _record(store, RunKind.APPLY, RunStatus.APPLIED)
        assert _status(store)[0] is SyncStatus.SYNCED
        _record(store, RunKind.DRIFT, RunStatus.DRIFTED)
        status, message = _status(store)
        assert status is SyncStatus.DRIFTED and "aws_s3_bucket.b" in message
        _record(store, RunKind.HEAL, RunStatus.APPLIED)
        assert _status(store)[0] is SyncStatus.SYNCED
        store.update_stack_state("s", desired_commit=TWO.sha, out_of_sync=True, message="held")
        assert _status(store) == (SyncStatus.OUT_OF_SYNC, "held")
        _record(store, RunKind.APPLY, RunStatus.FAILED, TWO)
        assert _status(store) == (SyncStatus.FAILED, "boom")
        store.update_stack_state("s", paused_at_commit=TWO.sha, pause_reason="incident 42")
        view = derive_view("s", store.list(stack="s"), store.stack_states()["s"])
        assert view.auto_apply_paused and "incident 42" in view.message
        assert (view.applied_commit, view.desired_commit) == (ONE.sha, TWO.sha)
        assert view.last_drift_check is not None


def test_status_lists_recorded_stacks_without_a_daemon(tmp_path: Path) -> None:
    with RunStore.open(tmp_path) as store:
        _record(store, RunKind.APPLY, RunStatus.APPLIED)
        (view,) = stack_views(store)
    assert (view.name, view.status, view.applied_commit) == ("s", SyncStatus.SYNCED, ONE.sha)
