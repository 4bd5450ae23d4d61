"""kill -9 in the middle of a run: the record says `interrupted`, nothing is lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
from e2e_helpers import Env, cli_argv

from infra_gitops.models import RunStatus
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
