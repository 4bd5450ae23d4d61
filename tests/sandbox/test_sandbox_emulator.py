"""The moto server process: start, answer, reset, stop, detached state file, stale pids."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from infra_gitops.errors import SandboxError
from infra_gitops.sandbox import emulator


def _s3(endpoint: str) -> object:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(pid, 0); it has stopped all the same.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_running_emulator_serves_aws_and_leaves_no_process(tmp_path: Path) -> None:
    with emulator.running_emulator(tmp_path / "moto.log") as info:
        assert info.endpoint == f"http://127.0.0.1:{info.port}"
        s3 = _s3(info.endpoint)
        s3.create_bucket(Bucket="hello-bucket")  # type: ignore[attr-defined]
        names = [b["Name"] for b in s3.list_buckets()["Buckets"]]  # type: ignore[attr-defined]
        assert names == ["hello-bucket"]
        pid = info.pid
    assert not _process_exists(pid)
    assert not emulator.is_answering(info.endpoint)


def test_reset_forgets_every_resource(tmp_path: Path) -> None:
    with emulator.running_emulator() as info:
        s3 = _s3(info.endpoint)
        s3.create_bucket(Bucket="to-be-forgotten")  # type: ignore[attr-defined]
        emulator.reset(info.endpoint)
        assert s3.list_buckets()["Buckets"] == []  # type: ignore[attr-defined]


def test_reset_of_a_dead_endpoint_says_which(tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{emulator.free_port()}"
    with pytest.raises(SandboxError, match=endpoint):
        emulator.reset(endpoint)


def test_detached_emulator_survives_until_stopped(tmp_path: Path) -> None:
    info = emulator.start_detached(tmp_path)
    try:
        state = json.loads((tmp_path / "sandbox" / "sandbox.json").read_text())
        assert state["pid"] == info.pid and state["endpoint"] == info.endpoint
        assert emulator.status(tmp_path) == info
        assert emulator.start_detached(tmp_path) == info  # idempotent: same process
    finally:
        stopped = emulator.stop_detached(tmp_path)
    assert stopped
    assert not _process_exists(info.pid)
    assert emulator.status(tmp_path) is None
    assert not (tmp_path / "sandbox" / "sandbox.json").exists()
    assert emulator.stop_detached(tmp_path) is False


def test_detached_emulator_is_a_separate_session(tmp_path: Path) -> None:
    info = emulator.start_detached(tmp_path)
    try:
        # Its own process group: a Ctrl-C on the CLI's terminal does not reach it.
        assert os.getpgid(info.pid) == info.pid != os.getpgid(0)
    finally:
        emulator.stop_detached(tmp_path)


def test_status_reports_a_dead_emulator_and_keeps_its_record(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    path = tmp_path / "sandbox" / "sandbox.json"
    path.parent.mkdir(parents=True)
    port = emulator.free_port()
    path.write_text(
        json.dumps({"pid": dead.pid, "port": port, "endpoint": f"http://127.0.0.1:{port}"})
    )
    assert emulator.status(tmp_path) is None
    # Kept, so commands can say the sandbox died instead of targeting another cloud.
    assert emulator.recorded(tmp_path) is not None
    assert emulator.stop_detached(tmp_path) is False
    assert not path.exists()


def test_status_ignores_a_live_pid_that_is_not_moto(tmp_path: Path) -> None:
    path = tmp_path / "sandbox" / "sandbox.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"pid": os.getpid(), "port": 1, "endpoint": "http://127.0.0.1:1"}))
    assert emulator.status(tmp_path) is None
    assert emulator.stop_detached(tmp_path) is False  # and it did not kill the test runner


def test_status_treats_a_corrupt_state_file_as_stale(tmp_path: Path) -> None:
    path = tmp_path / "sandbox" / "sandbox.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    assert emulator.status(tmp_path) is None
    assert not path.exists()
