"""A stack's sync status from its run records and the daemon's state of it."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from daemon_helpers import cli_argv

from infra_gitops.daemon.contracts import SyncStatus
from infra_gitops.daemon.status import RECENT_RUNS, derive_view, diff_runs, stack_views
from infra_gitops.models import Commit, ResourceChange, RunKind, RunStatus
from infra_gitops.postgres import DatabaseUrl
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


def test_the_life_of_a_stack(tmp_path: Path, records_url: DatabaseUrl | None) -> None:
    with RunStore.open(tmp_path, database_url=records_url) as store:
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


def test_status_lists_recorded_stacks_without_a_daemon(
    tmp_path: Path, records_url: DatabaseUrl | None
) -> None:
    with RunStore.open(tmp_path, database_url=records_url) as store:
        _record(store, RunKind.APPLY, RunStatus.APPLIED)
        (view,) = stack_views(store)
    assert (view.name, view.status, view.applied_commit) == ("s", SyncStatus.SYNCED, ONE.sha)


# ---------------------------------------------------------------- many stacks

MANY = 300
RUNS_EACH = 4


@pytest.fixture(scope="module")
def many_stacks() -> Iterator[Path]:
    """A state dir with 1,200 runs of 300 stacks, one stack after the other: the first
    stacks' runs are older than the newest 1,000."""
    # In memory where the machine has it: 2,400 write transactions, each synced to
    # disk, take 13 s on one; nothing here depends on where the file is.
    ram = Path("/dev/shm")
    with tempfile.TemporaryDirectory(dir=ram if ram.is_dir() else None) as tmp:
        yield _record_many(Path(tmp) / "state")


def _record_many(state: Path) -> Path:
    with RunStore.open(state) as store:
        for i in range(MANY):
            name = f"stack-{i:03d}"
            for kind, status in (
                (RunKind.PLAN, RunStatus.CHANGES),
                (RunKind.APPLY, RunStatus.APPLIED),
                (RunKind.DRIFT, RunStatus.DRIFTED if i % 3 == 0 else RunStatus.NO_CHANGES),
                (RunKind.PLAN, RunStatus.FAILED if i % 5 == 0 else RunStatus.NO_CHANGES),
            ):
                run = store.start(name, kind, "cli", ONE, "terraform")
                drift = (DRIFT,) if status is RunStatus.DRIFTED else ()
                store.finish(run.id, status, drift=drift, error="boom" if i % 5 == 0 else None)
        store.update_stack_state("stack-007", desired_commit=TWO.sha, out_of_sync=True)
    return state


def test_status_lists_every_stack_past_a_thousand_runs(many_stacks: Path) -> None:
    done = subprocess.run(
        [*cli_argv(), "status", "--json", "--state-dir", str(many_stacks)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    stacks = json.loads(done.stdout)["result"]["stacks"]
    assert [s["name"] for s in stacks] == [f"stack-{i:03d}" for i in range(MANY)]
    assert {s["status"] for s in stacks} == {"Synced", "Drifted", "Failed", "OutOfSync"}


def test_views_of_many_stacks_are_those_of_each_stack_alone(many_stacks: Path) -> None:
    with RunStore.open(many_stacks) as store:
        views = stack_views(store)
        states = store.stack_states()
        one_by_one = [
            derive_view(name, store.list(stack=name, limit=RECENT_RUNS), states.get(name))
            for name in sorted({r.stack for r in store.list(limit=None)})
        ]
    assert views == one_by_one


def test_status_of_many_stacks_takes_a_fixed_number_of_queries(
    many_stacks: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    statements: list[str] = []
    connect = sqlite3.connect

    def traced(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = connect(*args, **kwargs)
        conn.set_trace_callback(statements.append)
        return conn

    def queries(names: list[str] | None) -> int:
        statements.clear()
        with RunStore.open(many_stacks) as store:
            statements.clear()  # what opening costs is not what is asked
            views = stack_views(store, names)
        assert len(views) == (MANY if names is None else len(names))
        return len(statements)

    monkeypatch.setattr(sqlite3, "connect", traced)
    few = queries([f"stack-{i:03d}" for i in range(3)])

    # The same statements for 3 stacks as for 300; listing every stack adds one read.
    assert queries([f"stack-{i:03d}" for i in range(MANY)]) == few
    assert queries(None) < few + 10


def test_the_diffs_behind_a_status_are_those_since_the_last_apply(tmp_path: Path) -> None:
    """What the web UI shows of a stack: the drift of the newest drift check and the
    changes of the newest plan, while no apply or heal came after them."""

    def diffs() -> tuple[str | None, str | None]:
        drift, plan = diff_runs(store.list(stack="s"))
        return (drift.id if drift else None), (plan.id if plan else None)

    with RunStore.open(tmp_path) as store:
        assert diffs() == (None, None)
        _record(store, RunKind.APPLY, RunStatus.APPLIED)
        _record(store, RunKind.DRIFT, RunStatus.NO_CHANGES)
        assert diffs() == (None, None)
        drifted = _record(store, RunKind.DRIFT, RunStatus.DRIFTED)
        assert diffs() == (drifted, None)
        run = store.start("s", RunKind.PLAN, "daemon:commit", TWO, "terraform")
        store.finish(run.id, RunStatus.CHANGES, changes=(DRIFT,))
        assert diffs() == (drifted, run.id)
        assert diff_runs(store.list(stack="s"))[1].changes == (DRIFT,)  # type: ignore[union-attr]
        _record(store, RunKind.HEAL, RunStatus.APPLIED)
        assert diffs() == (None, run.id)  # healed; the commit is still to apply
        _record(store, RunKind.APPLY, RunStatus.APPLIED, TWO)
        assert diffs() == (None, None)
