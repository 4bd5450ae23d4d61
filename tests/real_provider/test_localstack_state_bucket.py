"""localstack/init/ready.d/10-state-bucket.sh without the container's tools: run on the
host with curl, or with python3 alone (a PATH with nothing else: no `awslocal`), against
a moto server standing in for LocalStack's S3 (both take the script's unsigned request).
LocalStack itself does not run in this suite (README, "LocalStack, with or without
Docker")."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra_gitops import sandbox
from infra_gitops.sandbox import emulator
from tests.e2e.e2e_helpers import PROJECT

SCRIPT = PROJECT / "localstack" / "init" / "ready.d" / "10-state-bucket.sh"


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("localstack-standin") / "emulator.log"
    with emulator.running_emulator(log) as running:
        yield running.endpoint


def _run(endpoint: str, bucket: str, path: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": path, "AWS_ENDPOINT_URL": endpoint, "INFRA_GITOPS_STATE_BUCKET": bucket}
    return subprocess.run(
        ["/bin/sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=30
    )


def _buckets(endpoint: str) -> list[str]:
    s3 = sandbox.client("s3", endpoint)
    return [b["Name"] for b in s3.list_buckets()["Buckets"]]


def _path_with_only(tmp_path: Path, *tools: str) -> str:
    """A PATH holding the shell's basics and the given tools, nothing else."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in tools:
        # This interpreter's own binary for python3: a pyenv shim needs more than PATH.
        found = os.path.realpath(sys.executable) if tool == "python3" else shutil.which(tool)
        assert found, f"{tool} is needed on PATH for this test"
        (bin_dir / tool).symlink_to(found)
    return str(bin_dir)


@pytest.mark.parametrize("tool", ["curl", "python3"])
def test_the_script_makes_the_bucket_with_curl_or_python_alone(
    tmp_path: Path, endpoint: str, tool: str
) -> None:
    bucket = f"ls-state-{tool}"
    path = _path_with_only(tmp_path, tool)

    first = _run(endpoint, bucket, path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert bucket in _buckets(endpoint)
    again = _run(endpoint, bucket, path)
    assert again.returncode == 0, again.stdout + again.stderr


def test_an_unreachable_endpoint_fails_naming_it(tmp_path: Path) -> None:
    port = emulator.free_port()
    done = _run(f"http://127.0.0.1:{port}", "ls-state-none", os.environ["PATH"])
    assert done.returncode == 1
    assert f"http://127.0.0.1:{port}" in done.stderr
