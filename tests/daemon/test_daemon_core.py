"""The daemon's long-lived core and per-commit views, in process: one drift check touches
only its own stack (no export, no other stack's records, one status metric), and the
provider process the core serves is started again when it dies."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from daemon_helpers import World

from infra_gitops import git as gitmod
from infra_gitops.core import open_core, reattached_pids
from infra_gitops.daemon.app import Daemon
from infra_gitops.daemon.contracts import SyncStatus
from infra_gitops.daemon.metrics import NullMetrics
from infra_gitops.daemon.runtime import Settings
from infra_gitops.models import RunKind, RunStatus
from infra_gitops.process import running
from infra_gitops.progress import Progress
from infra_gitops.runs import RunStore
from infra_gitops.view import open_view

FILLERS = 299
"""Declared stacks that never run: their records say they are applied at head."""


class StatusMetrics(NullMetrics):
    def __init__(self) -> None:
        self.statuses: list[str] = []

    def stack_status(self, *, stack: str, status: SyncStatus) -> None:
        self.statuses.append(stack)


@pytest.fixture
def in_process(world: World, monkeypatch: pytest.MonkeyPatch) -> World:
    """This process's environment as the daemon process's would be."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "TF_", "INFRA_GITOPS")):
            monkeypatch.delenv(name)
    for name in ("TF_REATTACH_PROVIDERS", "DEMO_DB_PASSWORD"):
        monkeypatch.setenv(name, world.env[name])
    return world


def _filler_name(i: int) -> str:
    return f"filler-{i:03d}"


def _many_stacks_commit(world: World) -> str:
    lines = [
        "version: 1",
        "defaults:",
        "  engine: terraform",
        "  policy: {drift_interval: 5m, self_heal: true, auto_apply: true}",
        "stacks:",
        "  - name: storage",
        "    path: stacks/storage",
        "    variables: {name_prefix: demo, environment: dev}",
    ]
    for i in range(FILLERS):
        (world.work / "fillers" / str(i)).mkdir(parents=True)
        (world.work / "fillers" / str(i) / "main.tf").write_text("# never run here\n")
        lines += [f"  - name: {_filler_name(i)}", f"    path: fillers/{i}"]
    (world.work / "gitops.yaml").write_text("\n".join(lines) + "\n")
    shutil.rmtree(world.work / "stacks" / "app")
    return world.commit_and_push(f"storage and {FILLERS} other stacks")


def _record_fillers_applied(state_dir: Path, repo: Path, sha: str) -> None:
    with gitmod.open_repo(repo) as r:
        commit = gitmod.resolve_commit(r, sha)
    with RunStore.open(state_dir) as store:
        for i in range(FILLERS):
            run = store.start(_filler_name(i), RunKind.APPLY, "daemon:commit", commit, "terraform")
            store.finish(run.id, RunStatus.NO_CHANGES)


@pytest.fixture
def traced_sql(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    statements: list[str] = []
    connect = sqlite3.connect

    def traced(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = connect(*args, **kwargs)
        conn.set_trace_callback(statements.append)
        return conn

    monkeypatch.setattr(sqlite3, "connect", traced)
    yield statements


def test_one_drift_check_among_300_stacks_exports_nothing_and_reads_only_its_stack(
    in_process: World, monkeypatch: pytest.MonkeyPatch, traced_sql: list[str]
) -> None:
    world = in_process
    head = _many_stacks_commit(world)
    _record_fillers_applied(world.state_dir, world.work, head)
    exports: list[str] = []
    export_commit = gitmod.export_commit

    def counted(repo: Any, sha: str, dest: Path) -> None:
        exports.append(sha)
        export_commit(repo, sha, dest)

    monkeypatch.setattr(gitmod, "export_commit", counted)
    metrics = StatusMetrics()
    settings = Settings(state_dir=world.state_dir, repo=str(world.remote), timeout=300)
    with Daemon(settings, metrics=metrics) as daemon:
        daemon.poll()
        storage = world.runs(stack="storage", kind=RunKind.APPLY)
        assert [r.status for r in storage] == [RunStatus.APPLIED]
        assert set(metrics.statuses) == {"storage", *map(_filler_name, range(FILLERS))}
        snapshots = sorted((world.state_dir / "snapshots").iterdir())
        exports.clear()
        traced_sql.clear()
        metrics.statuses.clear()

        daemon.check_drift("storage")
        during = list(traced_sql)

        drift = world.runs(stack="storage", kind=RunKind.DRIFT)
        assert [(r.status, r.commit.sha) for r in drift] == [(RunStatus.NO_CHANGES, head)]
        assert exports == []  # the view of the applied commit was the pass's
        assert sorted((world.state_dir / "snapshots").iterdir()) == snapshots
        assert metrics.statuses == ["storage"]
        on_stacks = [s for s in during if " runs" in s or "stack_state" in s or "json_each" in s]
        assert on_stacks, "the check read no records at all: the trace caught nothing"
        others = [s for s in on_stacks if "filler-" in s]
        assert others == []
        # Every read of records is of that stack, of runs by id, or the store's probe.
        reads = [s for s in on_stacks if s.lstrip().upper().startswith("SELECT")]
        by_key = ("storage", "WHERE run_id ", "WHERE id ")
        unbounded = [
            s for s in reads if not any(k in s for k in by_key) and "FROM runs LIMIT 1" not in s
        ]
        assert unbounded == [], "\n".join(unbounded)
    # The daemon's exports go with it.
    assert list((world.state_dir / "snapshots").iterdir()) == []


def test_a_dead_provider_process_is_started_again_for_the_next_operation(
    in_process: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = in_process
    monkeypatch.delenv("TF_REATTACH_PROVIDERS")  # the core serves its own provider
    world.commit_and_push("the example stacks")
    progress = Progress(enabled=False)
    with (
        open_core(world.state_dir, progress, timeout=300) as core,
        open_view(world.work, "HEAD", world.state_dir) as view,
    ):
        runner = core.runner(view, progress)
        storage = view.manifest.stack("storage")
        first = runner.plan(storage)
        assert first.status is RunStatus.CHANGES, first.error
        pids = reattached_pids(core.target.base_env["TF_REATTACH_PROVIDERS"])
        assert pids and all(running(p) for p in pids)
        for pid in pids:
            os.killpg(pid, signal.SIGKILL)

        second = runner.apply(storage, None)

        assert second.status is RunStatus.APPLIED, second.error
        assert world.bucket_tags()["environment"] == "dev"
        assert core.provider.restarts == 1
        new_pids = reattached_pids(core.target.base_env["TF_REATTACH_PROVIDERS"])
        assert new_pids != pids and all(running(p) for p in new_pids)
    assert not any(running(p) for p in new_pids)
