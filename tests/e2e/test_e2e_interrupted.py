"""kill -9 in the middle of a run: the record says `interrupted`, nothing is lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from e2e_helpers import Env, cli_argv

from infra_gitops import leftovers
from infra_gitops.models import RunStatus
from infra_gitops.process import PARENT_PID_ENV
from infra_gitops.runs import RunStore

pytestmark = pytest.mark.e2e


def _wait_for_a_running_run(e2e: Env, proc: subprocess.Popen[str], timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the apply ended before a run was seen running"
        if (e2e.state_dir / "runs.db").exists():
            with RunStore.open(e2e.state_dir) as store:
                running = store.list(status=RunStatus.RUNNING)
            if running:
                return running[0].id
        time.sleep(0.05)
    raise AssertionError("no run was recorded as running")


def _wait_until_state_unlocked(e2e: Env, timeout: float = 60) -> None:
    """The killed CLI's Terraform child finishes on its own; wait for its state lock."""
    s3 = e2e.aws("s3")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        keys = [
            o["Key"] for o in s3.list_objects_v2(Bucket=e2e.cloud.state_bucket).get("Contents", [])
        ]
        if not any(k.endswith(".tflock") for k in keys):
            return
        time.sleep(0.2)
    raise AssertionError("the Terraform state lock was never released")


def test_run_killed_mid_apply_is_marked_interrupted_at_the_next_start(e2e: Env) -> None:
    argv = [
        *cli_argv(),
        "apply",
        "--auto-approve",
        "--repo",
        str(e2e.repo),
        "--state-dir",
        str(e2e.state_dir),
    ]
    proc = subprocess.Popen(
        argv, env=e2e.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True
    )
    try:
        run_id = _wait_for_a_running_run(e2e, proc)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    _wait_until_state_unlocked(e2e)

    history = e2e.cli("history", "--json")
    assert history.code == 0, history.output
    runs = {r["id"]: r for r in json.loads(history.stdout)["result"]["runs"]}
    assert runs[run_id]["status"] == "interrupted"
    assert f"(pid {proc.pid} on host" in runs[run_id]["error"]
    assert "may be partly changed" in runs[run_id]["error"]

    # The next apply plans again from what is live and completes.
    again = e2e.cli("apply", "--auto-approve")
    assert again.code == 0, again.output
    assert e2e.aws("ssm").get_parameter(Name="/demo/dev/queue_url")["Parameter"]["Value"]


def _processes_started_by(owner_pid: int) -> list[int]:
    """Live processes that infra-gitops process owner_pid started, directly or not: they
    carry its pid in PARENT_PID_ENV (the provider, Terraform, Terraform's plugins)."""
    marker = f"{PARENT_PID_ENV}={owner_pid}/".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state not in ("Z", "X") and any(v.startswith(marker) for v in environ.split(b"\0")):
            found.append(int(entry.name))
    return found


def _owned_by(state_dir: Path, pid: int) -> list[Path]:
    return [
        entry
        for pattern in leftovers.SWEPT_PATTERNS
        for entry in state_dir.glob(pattern)
        if (owner := leftovers.owner_of(entry.name)) is not None and owner.pid == pid
    ]


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_sigkill_mid_apply_leaves_no_process_and_the_next_start_sweeps_its_files(
    e2e: Env,
) -> None:
    # Without TF_REATTACH_PROVIDERS the CLI starts its own provider, as users run it.
    env = {k: v for k, v in e2e.env.items() if k != "TF_REATTACH_PROVIDERS"}
    argv = [*cli_argv(), "apply", "--auto-approve", "--repo", str(e2e.repo)]
    proc = subprocess.Popen(
        [*argv, "--state-dir", str(e2e.state_dir)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # Killed once its saved plan (variable values in clear) is on disk.
        deadline = time.monotonic() + 90
        while not any(p.name.endswith(".tfplan") for p in _owned_by(e2e.state_dir, proc.pid)):
            assert proc.poll() is None, "the apply ended before its plan file was seen"
            assert time.monotonic() < deadline, "no plan file was written"
            time.sleep(0.02)
        assert _processes_started_by(proc.pid), "the CLI started no provider or Terraform"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()

    deadline = time.monotonic() + 15
    while _processes_started_by(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_started_by(proc.pid) == [], "processes outlived the killed CLI"
    left = _owned_by(e2e.state_dir, proc.pid)
    assert any(p.parent.name == "snapshots" for p in left), left  # what the kill left
    _wait_until_state_unlocked(e2e)

    again = e2e.cli("plan")
    assert again.code in (0, 2), again.output
    assert _owned_by(e2e.state_dir, proc.pid) == []
    assert not list(e2e.state_dir.glob("work/*/*/*/plans/*.tfplan"))
