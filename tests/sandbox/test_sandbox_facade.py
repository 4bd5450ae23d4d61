"""up/down/status, the Terraform environment, the mirror install and the S3 state backend."""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import time
from pathlib import Path

import boto3
import pytest
from sandbox_helpers import TERRAFORM, Terraform, base_env, init, make_runner, work_copy

from infra_gitops import process, sandbox
from infra_gitops.sandbox import SandboxInfo

pytestmark = pytest.mark.e2e


def test_up_is_idempotent_and_down_stops_it(tmp_path: Path) -> None:
    assert sandbox.status(tmp_path) is None
    info = sandbox.up(tmp_path)
    try:
        assert sandbox.up(tmp_path) == info
        assert sandbox.status(tmp_path) == info
        s3 = boto3.client(
            "s3",
            endpoint_url=info.endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["infra-gitops-state"]
        config = info.cli_config.read_text()
        assert "filesystem_mirror" in config and "direct" not in config
        assert '"infra-gitops.local/*/*"' in config
    finally:
        assert sandbox.down(tmp_path) is True
    assert sandbox.status(tmp_path) is None
    assert sandbox.down(tmp_path) is False


def test_terraform_env_points_everything_at_the_emulator(tmp_path: Path) -> None:
    info = SandboxInfo(tmp_path, "http://127.0.0.1:5000", 1, tmp_path / "terraform.rc")
    env = info.terraform_env()
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5000"
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == ("test", "test")
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["TF_CLI_CONFIG_FILE"] == str(tmp_path / "terraform.rc")
    assert env["CHECKPOINT_DISABLE"] == "1"
    assert info.backend_config("app") == {
        "bucket": "infra-gitops-state",
        "key": "app/terraform.tfstate",
        "region": "us-east-1",
        "endpoints": {"s3": "http://127.0.0.1:5000"},
        "use_path_style": True,
        "skip_credentials_validation": True,
        "skip_requesting_account_id": True,
        "skip_metadata_api_check": True,
        "skip_region_validation": True,
        "use_lockfile": True,
    }


def test_terraform_installs_the_provider_from_the_mirror_without_reattach(
    tmp_path: Path,
) -> None:
    """The path `sandbox up` users take: Terraform starts the provider from the mirror."""
    info = sandbox.up(tmp_path / "state")
    try:
        terraform = make_runner(info.terraform_env())
        stack = work_copy("storage", tmp_path, info)
        output = init(terraform, stack).stdout
        assert "infra-gitops.local/sandbox/aws v0.1.0" in output
        apply = terraform(stack, "apply", "-auto-approve", "-input=false", "-no-color")
        assert apply.returncode == 0, apply.stdout + apply.stderr
        plan = terraform(stack, "plan", "-detailed-exitcode", "-input=false", "-no-color")
        assert plan.returncode == 0, plan.stdout + plan.stderr
        # The state went to the emulator's S3 bucket, not to a local file.
        assert not (stack / "terraform.tfstate").exists()
        s3 = boto3.client(
            "s3",
            endpoint_url=info.endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        body = s3.get_object(Bucket="infra-gitops-state", Key="storage/terraform.tfstate")["Body"]
        addresses = {r["type"] for r in json.loads(body.read())["resources"]}
        assert addresses == {"aws_s3_bucket", "aws_sqs_queue"}
    finally:
        sandbox.down(tmp_path / "state")


def test_a_second_run_cannot_take_the_state_lock(
    sandbox: SandboxInfo, terraform: Terraform, reattached_env: dict[str, str], tmp_path: Path
) -> None:
    stack = work_copy("storage", tmp_path, sandbox)
    init(terraform, stack)
    holder = _apply_waiting_for_confirmation(stack, reattached_env)
    try:
        second = terraform(stack, "plan", "-input=false", "-no-color", "-lock-timeout=0s")
        assert second.returncode == 1
        assert "Error acquiring the state lock" in second.stderr
        assert holder.stdin is not None
        holder.stdin.write("no\n")  # cancel: the first run releases its lock
        holder.stdin.close()
        assert holder.wait(timeout=60) == 1
    finally:
        process.kill_group(holder)
        if holder.stdout is not None:
            holder.stdout.close()
    third = terraform(stack, "plan", "-input=false", "-no-color", "-lock-timeout=0s")
    assert third.returncode == 0, third.stderr


def _apply_waiting_for_confirmation(stack: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """An apply that holds the state lock while it waits at its "Enter a value:" prompt."""
    proc = subprocess.Popen(
        [*TERRAFORM, "apply", "-no-color"],
        cwd=stack,
        env={**base_env(), **env},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    fd, seen, deadline = proc.stdout.fileno(), b"", time.monotonic() + 60
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while b"Enter a value:" not in seen and time.monotonic() < deadline:
            if selector.select(timeout=0.2):
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                seen += chunk
    if b"Enter a value:" not in seen:
        process.kill_group(proc)
        pytest.fail(f"apply did not reach its prompt:\n{seen.decode(errors='replace')}")
    return proc
