"""The runner holds each stack's lock through the StackLocks it is given: with
PostgreSQL locks a second replica is refused while the first runs, and a replica whose
lock connection breaks stops its engine process and closes the run as failed.

The engine here is a stand-in (named as such): its plan runs `sleep` through
process.run the way Terraform is run, so that the lock can be lost mid-operation
without a cloud; everything else (runner, run store, locks, database) is real.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from postgres_server import PostgresServer

from infra_gitops import process
from infra_gitops.coordination.locks import PostgresStackLocks
from infra_gitops.engines.base import StackWorkspace
from infra_gitops.models import Commit, Plan, RunKind, RunStatus, Stack, StackOutcome
from infra_gitops.postgres import DatabaseUrl
from infra_gitops.runs import RunStore
from infra_gitops.source import Source
from infra_gitops.stackrun import StackRunner

STACK = Stack(name="network", path="stacks/network")


class SleepingStandInEngine:
    """Stand-in engine: plan() runs a long `sleep` as a child process group."""

    name = "terraform"

    def __init__(self) -> None:
        self.pids: list[int] = []

    def prepare(self, ws: StackWorkspace) -> None:
        pass

    def plan(self, ws: StackWorkspace, *, refresh_only: bool = False) -> Plan:
        process.run(
            ["sh", "-c", "echo $$; exec sleep 300"],
            on_stdout_line=lambda line: self.pids.append(int(line)),
            timeout=600,
        )
        return Plan(ws.stack.name, (), (), {}, "terraform", "stand-in")


def _runner(
    tmp_path: Path, store: RunStore, locks: PostgresStackLocks, engine: object
) -> StackRunner:
    commit = Commit("a" * 40, "Alice", "alice@example.com", "2026-12-01T00:00:00+00:00", "m")
    return StackRunner(
        state_dir=tmp_path,
        store=store,
        source=Source(root=tmp_path, commit=commit, repo_path=tmp_path),
        engine_for=lambda _stack: engine,  # type: ignore[arg-type,return-value]
        workspace_for=lambda stack, log_file: StackWorkspace(
            stack=stack,
            source_dir=tmp_path / "src",
            work_dir=tmp_path / "work",
            env=dict(os.environ),
            log_file=log_file,
        ),
        locks=locks,
        trigger="test",
    )


def test_a_replica_losing_its_lock_connection_stops_its_engine_and_fails_the_run(
    tmp_path: Path, url: DatabaseUrl, restarted: PostgresServer
) -> None:
    engine = SleepingStandInEngine()
    with RunStore.open(tmp_path) as store:
        first = _runner(tmp_path, store, PostgresStackLocks(url, "replica-1"), engine)
        second = _runner(tmp_path, store, PostgresStackLocks(url, "replica-2"), engine)
        outcomes: list[StackOutcome] = []
        thread = threading.Thread(target=lambda: outcomes.append(first.plan(STACK)))
        thread.start()
        deadline = time.monotonic() + 20
        while not engine.pids:
            assert time.monotonic() < deadline, "the stand-in engine did not start"
            time.sleep(0.05)
        (running,) = store.list(stack="network")

        refused = second.plan(STACK)  # another replica, same stack: refused, not run
        assert refused.status is RunStatus.FAILED and refused.run_id is None
        assert f"run {running.id}" in (refused.error or "")
        assert len(engine.pids) == 1

        restarted.stop()
        thread.join(timeout=30)
        assert not thread.is_alive()
        (outcome,) = outcomes
        assert (outcome.kind, outcome.status) == (RunKind.PLAN, RunStatus.FAILED)
        assert "lock this operation held was lost" in (outcome.error or "")
        assert not process.running(engine.pids[0])
        (run,) = store.list(stack="network")
        assert run.id == running.id and run.status is RunStatus.FAILED  # closed, not running
