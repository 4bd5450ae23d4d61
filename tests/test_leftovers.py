"""The sweep at start: what a killed process left is removed, a live one's entries stay."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from infra_gitops import leftovers

_NAME_FROM_A_PROCESS = "from infra_gitops.leftovers import owned_name; print(owned_name('x'))"


def _name_of_a_dead_process() -> str:
    """A name made by a real process that has exited since."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", _NAME_FROM_A_PROCESS],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return done.stdout.strip()[: -len("x")]


def _plans_dir(state_dir: Path) -> Path:
    path = state_dir / "work" / "0123456789ab" / "storage" / "default" / "plans"
    path.mkdir(parents=True)
    return path


def test_entries_of_a_dead_owner_are_swept_and_those_of_a_live_one_stay(tmp_path: Path) -> None:
    dead = _name_of_a_dead_process()
    snapshots = tmp_path / "snapshots"
    snapshots.mkdir()
    dead_snapshot = snapshots / f"{dead}abc"
    (dead_snapshot / "stacks").mkdir(parents=True)
    (dead_snapshot / "stacks" / "main.tf").write_text("# secret-bearing copy\n")
    live_snapshot = snapshots / leftovers.owned_name("def")
    live_snapshot.mkdir()
    plans = _plans_dir(tmp_path)
    dead_plan = plans / f"{dead}20261201T000000Z.tfplan"
    dead_plan.write_bytes(b"plan with variable values")
    live_plan = plans / leftovers.owned_name("20261201T000001Z.tfplan")
    live_plan.write_bytes(b"in use")
    artifact = plans / "20261201T000000Z.plan.json"  # redacted, and not owned: kept
    artifact.write_text("{}")

    removed = leftovers.sweep(tmp_path)

    assert sorted(removed) == sorted([dead_snapshot, dead_plan])
    assert not dead_snapshot.exists()
    assert not dead_plan.exists()
    assert live_snapshot.is_dir()
    assert live_plan.is_file()
    assert artifact.is_file()


def test_entries_of_another_host_and_unowned_names_are_left_alone(tmp_path: Path) -> None:
    dead = _name_of_a_dead_process()
    _host, pid_and_start = dead.split("-", 1)
    elsewhere = tmp_path / "ci" / f"ffffffff-{pid_and_start}plans"
    elsewhere.mkdir(parents=True)
    unowned = tmp_path / "snapshots" / "0123456789ab"
    unowned.mkdir(parents=True)

    assert leftovers.sweep(tmp_path) == []
    assert elsewhere.is_dir()
    assert unowned.is_dir()


def test_owner_is_read_back_from_a_name() -> None:
    owner = leftovers.owner_of(leftovers.owned_name("snap"))
    assert owner is not None
    assert owner.pid == os.getpid()
    assert owner.alive() is True
    assert leftovers.owner_of("snap") is None
