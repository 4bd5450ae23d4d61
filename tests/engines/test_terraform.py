"""The Terraform engine end to end: the real embedded Terraform (1.15.5), the built-in
terraform_data resource (no provider needed), a local backend, and Terraform's S3 backend
against a real moto server for locking and an unreachable endpoint."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest

from infra_gitops.engines.base import StackWorkspace
from infra_gitops.engines.registry import ENGINES, engine_for, engine_for_stack
from infra_gitops.engines.terraform import (
    LOCAL_STATE_OVERRIDE,
    TerraformEngine,
)
from infra_gitops.errors import (
    CommandTimeoutError,
    EngineError,
    EngineNotFoundError,
    StateLockedError,
)
from infra_gitops.models import SENSITIVE_MARKER, UNKNOWN_MARKER, Action, ChangeCounts, Stack

pytestmark = pytest.mark.e2e

SECRET = "s3cr3t-Pa55-e2e"

APP = """
variable "password" {
  type      = string
  sensitive = true
}
variable "tags" {
  type = map(string)
}
resource "terraform_data" "app" {
  input = { tags = var.tags, password = var.password }
}
resource "terraform_data" "version" {
  input = "v1"
}
output "version" {
  value = terraform_data.version.output
}
output "password" {
  value     = var.password
  sensitive = true
}
"""


def write_stack(root: Path, path: str, main_tf: str) -> Path:
    directory = root / path
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "main.tf").write_text(main_tf)
    return directory


def workspace(
    tmp: Path,
    source: Path,
    *,
    stack: Stack | None = None,
    env: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> StackWorkspace:
    base_env = {"PATH": os.environ["PATH"], "HOME": str(tmp)}
    return StackWorkspace(
        stack=stack or Stack(name="app", path="stacks/app"),
        source_dir=source,
        work_dir=tmp / "state" / "app",
        env={**base_env, **(env or {})},
        **kwargs,
    )


@pytest.fixture
def app_ws(tmp_path: Path) -> StackWorkspace:
    source = write_stack(tmp_path / "repo", "stacks/app", APP)
    return workspace(
        tmp_path,
        source,
        stack=Stack(name="app", path="stacks/app", sensitive_variables=frozenset({"password"})),
        variables={"password": SECRET, "tags": {"env": "dev"}},
        secrets=frozenset({SECRET}),
        log_file=tmp_path / "logs" / "app.log",
    )


def test_registry_maps_terraform_and_tofu_to_the_terraform_engine() -> None:
    assert set(ENGINES) >= {"terraform", "tofu"}
    assert isinstance(engine_for("terraform"), TerraformEngine)
    assert engine_for("tofu").name == "tofu"
    assert engine_for_stack(Stack("db", "db", engine="tofu")).name == "tofu"
    with pytest.raises(EngineNotFoundError, match="unknown engine 'chef'"):
        engine_for("chef")


def test_plan_apply_outputs_destroy(app_ws: StackWorkspace) -> None:
    engine = TerraformEngine()
    steps: list[str] = []
    ws = replace(app_ws, progress=steps.append)
    assert engine.version(ws) == "terraform 1.15.5"

    engine.prepare(ws)
    # Terraform's working files stay out of the stack directory.
    assert not (ws.source_dir / ".terraform").exists()

    plan = engine.plan(ws)
    assert plan.counts == ChangeCounts(create=2, outputs=2)
    assert {c.address for c in plan.changes} == {"terraform_data.app", "terraform_data.version"}
    assert plan.engine_version == "terraform 1.15.5"
    assert plan.plan_file is not None and plan.plan_file.parent == ws.work_dir / "plans"
    assert plan.artifact is not None and plan.artifact.name.endswith(".plan.json")
    assert steps == ["version", "init", "plan", "show"]  # version is cached after the first

    result = engine.apply(ws, plan)
    # No backend declared: the state lives in the work dir, not in the (throwaway) snapshot.
    assert (ws.work_dir / "terraform.tfstate").is_file()
    assert not (ws.source_dir / "terraform.tfstate").exists()
    assert result.counts == ChangeCounts(create=2, outputs=2)
    # What the plan knew; `output` is not run for what it did not (nobody may read it).
    assert result.outputs == {"version": UNKNOWN_MARKER, "password": SENSITIVE_MARKER}
    assert not plan.plan_file.exists()  # applied plans (which hold secrets) are removed

    again = engine.plan(ws)
    assert not again.has_changes
    assert engine.outputs(ws) == {"version": "v1", "password": SENSITIVE_MARKER}
    # A plan carries the outputs of the state it starts from: no `output` needed.
    assert again.prior_outputs == {"version": "v1", "password": SENSITIVE_MARKER}

    destroyed = engine.destroy(ws)
    assert destroyed.counts == ChangeCounts(delete=2, outputs=2)
    assert destroyed.outputs == {}
    assert engine.outputs(ws) == {}


def test_apply_applies_the_saved_plan_not_the_current_code(app_ws: StackWorkspace) -> None:
    engine = TerraformEngine()
    ws = app_ws
    engine.prepare(ws)
    plan = engine.plan(ws)
    # The code changes between plan and apply: the reviewed plan is what gets applied.
    main_tf = ws.source_dir / "main.tf"
    main_tf.write_text(APP.replace('"v1"', '"v2"'))
    engine.apply(ws, plan)
    assert engine.outputs(ws)["version"] == "v1"

    next_plan = engine.plan(ws)
    (change,) = next_plan.changes
    assert (change.address, change.action) == ("terraform_data.version", Action.UPDATE)
    assert change.changed_paths == ("input", "output")
    assert change.after is not None and change.after["input"] == "v2"

    with pytest.raises(EngineError, match="saved plan file .* is missing"):
        engine.apply(ws, plan)  # already applied and removed


def test_sensitive_variable_never_leaks(app_ws: StackWorkspace) -> None:
    engine = TerraformEngine()
    ws = app_ws
    engine.prepare(ws)
    plan = engine.plan(ws)
    assert plan.artifact is not None and plan.plan_file is not None
    result = engine.apply(ws, plan)
    drift = engine.plan(ws, refresh_only=True)

    # The value did reach Terraform (through TF_VAR_password, not argv or a file) ...
    assert SECRET in (ws.work_dir / "terraform.tfstate").read_text()
    # ... and appears in nothing infra-gitops keeps or returns.
    assert ws.log_file is not None
    log = ws.log_file.read_text()
    assert "terraform plan -input=false" in log and "Apply complete!" in log
    for kept in (log, plan.artifact.read_text(), repr(plan), repr(result), repr(drift)):
        assert SECRET not in kept
    artifact = json.loads(plan.artifact.read_text())
    assert artifact["variables"]["password"]["value"] == SENSITIVE_MARKER
    assert not list((ws.work_dir).rglob("*.tfvars*"))


MODULE_CALLER = """
module "inner" {
  source = "./modules/inner"
}
output "name" {
  value = module.inner.name
}
"""


def test_init_runs_once_per_settings_and_again_when_they_change(tmp_path: Path) -> None:
    engine = TerraformEngine()

    def prepared(ws: StackWorkspace) -> list[str]:
        steps: list[str] = []
        engine.prepare(replace(ws, progress=steps.append))
        return steps

    source = write_stack(tmp_path / "repo", "stacks/app", MODULE_CALLER)
    write_stack(source, "modules/inner", 'output "name" {\n  value = "one"\n}\n')
    ws = workspace(tmp_path, source)
    assert prepared(ws) == ["init"]
    assert prepared(ws) == []
    # The next command works on a new snapshot of the same files: still initialised.
    snapshot = tmp_path / "snapshot-2" / "stacks" / "app"
    shutil.copytree(source, snapshot)
    moved = replace(ws, source_dir=snapshot)
    assert prepared(moved) == []
    engine.apply(moved, engine.plan(moved))
    assert engine.outputs(moved) == {"name": "one"}

    # A resource of a provider not named before is a new requirement; editing it is not.
    extra = snapshot / "extra.tf"
    extra.write_text('resource "terraform_data" "extra" {\n  input = "a"\n}\n')
    assert prepared(moved) == ["init"]
    extra.write_text('resource "terraform_data" "extra" {\n  input = "b"\n}\n')
    assert prepared(moved) == []
    # A local module's requirements count too (it may call modules or providers).
    inner = snapshot / "modules" / "inner" / "extra.tf"
    inner.write_text('module "deeper" {\n  source = "../deeper"\n}\n')
    write_stack(snapshot, "modules/deeper", 'output "name" {\n  value = "deep"\n}\n')
    assert prepared(moved) == ["init"]
    assert prepared(moved) == []
    # Other backend settings: init again (-reconfigure).
    assert prepared(replace(moved, backend_config={"path": str(tmp_path / "other.tfstate")})) == [
        "init"
    ]
    assert prepared(moved) == ["init"]
    # A work dir whose engine data is gone is not trusted.
    shutil.rmtree(moved.work_dir / ".terraform")
    assert prepared(moved) == ["init"]
    # A stack in another workspace selects it once.
    staging = replace(moved, stack=replace(moved.stack, workspace="staging"))
    assert prepared(staging) == ["init", "workspace"]
    assert prepared(staging) == []


def test_a_plan_that_finds_init_missing_inits_once_and_plans_again(tmp_path: Path) -> None:
    source = write_stack(tmp_path / "repo", "stacks/app", MODULE_CALLER)
    write_stack(source, "modules/inner", 'output "name" {\n  value = "one"\n}\n')
    ws = workspace(tmp_path, source)
    TerraformEngine().prepare(ws)
    # Damage the fingerprint cannot see: the installed modules are gone.
    shutil.rmtree(ws.work_dir / ".terraform" / "modules")
    engine = TerraformEngine()
    steps: list[str] = []
    ws = replace(ws, progress=steps.append)
    engine.prepare(ws)
    plan = engine.plan(ws)
    assert steps == ["plan", "init", "plan", "show"]
    assert plan.counts == ChangeCounts(outputs=1)


def test_non_default_workspace_is_selected_or_created(app_ws: StackWorkspace) -> None:
    engine = TerraformEngine()
    ws = replace(app_ws, stack=replace(app_ws.stack, workspace="staging"))
    engine.prepare(ws)
    engine.apply(ws, engine.plan(ws))
    assert (ws.work_dir / "terraform.tfstate.d" / "staging" / "terraform.tfstate").is_file()
    # The selection lives in TF_DATA_DIR, under the work dir, not in the stack directory.
    assert (ws.work_dir / ".terraform" / "environment").read_text() == "staging"
    assert not (ws.source_dir / ".terraform").exists()
    engine.prepare(ws)  # selecting an existing workspace works too
    assert not engine.plan(ws).has_changes


def test_invalid_hcl_names_file_and_line(tmp_path: Path) -> None:
    source = write_stack(
        tmp_path / "repo",
        "stacks/bad",
        'resource "terraform_data" "a" {\n  input = "x"\n'
        '}\n\nresource "terraform_data" "b" {\n  input =\n}\n',
    )
    ws = workspace(tmp_path, source, stack=Stack(name="bad", path="stacks/bad"))
    with pytest.raises(EngineError) as caught:
        TerraformEngine().prepare(ws)
    message = str(caught.value)
    assert "stack 'bad': terraform init failed" in message
    assert "stacks/bad/main.tf:6: Invalid expression" in message


def test_unsupported_argument_found_at_plan_names_file_and_line(tmp_path: Path) -> None:
    source = write_stack(
        tmp_path / "repo", "stacks/bad", 'resource "terraform_data" "a" {\n  bogus = 1\n}\n'
    )
    ws = workspace(tmp_path, source, stack=Stack(name="bad", path="stacks/bad"))
    engine = TerraformEngine()
    engine.prepare(ws)
    with pytest.raises(EngineError) as caught:
        engine.plan(ws)
    message = str(caught.value)
    assert "stack 'bad': terraform plan failed" in message
    assert 'stacks/bad/main.tf:2: Unsupported argument: An argument named "bogus"' in message


def test_a_syntax_error_in_a_local_module_names_its_file_in_the_repo(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    source = write_stack(repo, "stacks/app", 'module "net" {\n  source = "../../modules/net"\n}\n')
    write_stack(
        repo, "modules/net", 'variable "a" {\n  type = string\n}\n\noutput "b" {\n  value =\n}\n'
    )
    ws = workspace(tmp_path, source)
    with pytest.raises(EngineError) as caught:
        TerraformEngine().prepare(ws)
    message = str(caught.value)
    # From the JSON diagnostic's range, as the repo names the file: not the snapshot's path.
    assert "modules/net/main.tf:6: Invalid expression" in message
    assert str(repo) not in message and "../" not in message


def test_a_missing_module_reports_inits_diagnostic(tmp_path: Path) -> None:
    source = write_stack(
        tmp_path / "repo", "stacks/app", 'module "net" {\n  source = "./nope"\n}\n'
    )
    ws = workspace(tmp_path, source)
    with pytest.raises(EngineError) as caught:
        TerraformEngine().prepare(ws)
    message = str(caught.value)
    assert message.startswith("stack 'app': terraform init failed:\n")
    assert 'Unreadable module directory: The directory  could not be read for module "net"' in (
        message
    )
    assert not (ws.work_dir / ".init.sha256").exists()  # never claimed initialised


def test_the_run_log_reads_as_terraforms_words_not_json(app_ws: StackWorkspace) -> None:
    engine = TerraformEngine()
    engine.prepare(app_ws)
    engine.plan(app_ws)
    assert app_ws.log_file is not None
    log = app_ws.log_file.read_text().splitlines()
    assert "$ terraform init -json -input=false" in "\n".join(log)
    assert "Terraform has been successfully initialized!" in log
    assert "terraform_data.app: Plan to create" in log
    assert "Plan: 2 to add, 0 to change, 0 to destroy." in log
    assert not any(line.startswith("{") for line in log)


OLD_TERRAFORM = """#!/bin/sh
# A stand-in for Terraform < 1.9 / OpenTofu < 1.7: no `init -json` (a usage error, as
# theirs), every other command by the embedded Terraform.
if [ "$1" = init ]; then
  for arg in "$@"; do
    if [ "$arg" = -json ]; then
      echo "init -json" >> "{calls}"
      echo "flag provided but not defined: -json" >&2
      echo "Usage: terraform [global options] init [options]" >&2
      exit 1
    fi
  done
fi
exec {python} -m infra_gitops.engines.embedded_terraform "$@"
"""


def test_a_binary_without_init_json_inits_from_text_once_told(tmp_path: Path) -> None:
    calls = tmp_path / "json-inits.log"
    binary = tmp_path / "old-terraform"
    binary.write_text(OLD_TERRAFORM.format(calls=calls, python=sys.executable))
    binary.chmod(0o755)
    stack = Stack(name="app", path="stacks/app", binary=str(binary))
    engine = TerraformEngine()

    good = write_stack(tmp_path / "repo", "stacks/app", MODULE_CALLER)
    write_stack(good, "modules/inner", 'output "name" {\n  value = "one"\n}\n')
    ws = workspace(tmp_path, good, stack=stack)
    engine.prepare(ws)
    assert engine.plan(ws).counts == ChangeCounts(outputs=1)

    # A broken stack through the text path still names the file and line.
    bad = write_stack(tmp_path / "repo2", "stacks/app", 'output "x" {\n  value =\n}\n')
    with pytest.raises(EngineError) as caught:
        engine.prepare(workspace(tmp_path / "second", bad, stack=stack))
    assert "stacks/app/main.tf:2: Invalid expression" in str(caught.value)
    assert "flag provided" not in str(caught.value)
    assert calls.read_text() == "init -json\n"  # asked once per binary, then told


def test_a_stack_whose_backend_cannot_be_told_is_refused_not_moved(tmp_path: Path) -> None:
    # Valid for Terraform, past what infra-gitops parses: whether it declares a backend
    # is unknown, so no local-state override is written and nothing is planned.
    big = 'resource "terraform_data" "r{n}" {{\n  input = "{n}"\n}}\n'
    text = "".join(big.format(n=n) for n in range(6_000))
    source = write_stack(tmp_path / "repo", "stacks/app", text)
    ws = workspace(tmp_path, source)
    engine = TerraformEngine()
    with pytest.raises(EngineError) as caught:
        engine.prepare(ws)
    message = str(caught.value)
    assert "stack 'app': cannot tell where its state is kept" in message
    assert "stacks/app/main.tf: larger than 256 KiB" in message
    assert not (source / LOCAL_STATE_OVERRIDE).exists()
    assert not (ws.work_dir / ".init.sha256").exists()

    # Declared in a file of its own, it is known: init goes on.
    (source / "backend.tf").write_text(
        f'terraform {{\n  backend "local" {{\n    path = "{tmp_path}/state.tfstate"\n  }}\n}}\n'
    )
    engine.prepare(ws)
    assert (ws.work_dir / ".init.sha256").is_file()


def test_missing_stack_directory(tmp_path: Path) -> None:
    ws = workspace(tmp_path, tmp_path / "repo" / "stacks" / "gone")
    with pytest.raises(EngineError) as caught:
        TerraformEngine().prepare(ws)
    assert "stack 'app' (path 'stacks/app' in the manifest)" in str(caught.value)
    assert "does not exist" in str(caught.value)


def test_directory_without_terraform_files(tmp_path: Path) -> None:
    source = tmp_path / "repo" / "stacks" / "app"
    source.mkdir(parents=True)
    (source / "README.md").write_text("nothing here")
    with pytest.raises(EngineError, match=r"has no Terraform configuration"):
        TerraformEngine().prepare(workspace(tmp_path, source))


def test_missing_binary(tmp_path: Path) -> None:
    source = write_stack(tmp_path / "repo", "stacks/app", APP)
    missing = str(tmp_path / "no-such-terraform")
    ws = workspace(tmp_path, source, stack=Stack(name="app", path="stacks/app", binary=missing))
    with pytest.raises(EngineNotFoundError, match=r"stack 'app'.*no-such-terraform"):
        TerraformEngine().prepare(ws)


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    source = write_stack(tmp_path / "repo", "stacks/app", APP)
    pid_file = tmp_path / "child.pid"
    hung = tmp_path / "hung-terraform"
    # A stand-in binary that hangs with a child process, like terraform and its providers.
    hung.write_text(f"#!/bin/sh\nsleep 60 &\necho $! > {pid_file}\nwait\n")
    hung.chmod(0o755)
    ws = workspace(
        tmp_path,
        source,
        stack=Stack(name="app", path="stacks/app", binary=str(hung)),
        timeout=1.0,
    )
    started = time.monotonic()
    with pytest.raises(CommandTimeoutError, match=r"stack 'app': terraform init ran past"):
        TerraformEngine().prepare(ws)
    assert time.monotonic() - started < 10
    child = int(pid_file.read_text())
    assert not _alive(child)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is dead, just not reaped


# --- S3 backend against moto ----------------------------------------------------------

S3_STACK = """
terraform {
  backend "s3" {}
}
resource "terraform_data" "a" {
  input = "x"
}
"""

AWS_ENV = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}


def s3_backend(url: str, key: str) -> dict[str, Any]:
    return {
        "bucket": "tf-state",
        "key": key,
        "region": "us-east-1",
        "endpoints": {"s3": url},
        "use_path_style": True,
        "skip_credentials_validation": True,
        "skip_requesting_account_id": True,
        "skip_metadata_api_check": True,
        "skip_region_validation": True,
        "use_lockfile": True,
        "max_retries": 1,  # fail fast when the endpoint is down
    }


def test_state_locked_by_another_run(tmp_path: Path, moto_url: str) -> None:
    s3 = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1", **_creds())
    s3.create_bucket(Bucket="tf-state")
    source = write_stack(tmp_path / "repo", "stacks/app", S3_STACK)
    ws = workspace(
        tmp_path, source, env=AWS_ENV, backend_config=s3_backend(moto_url, "app/tfstate")
    )
    engine = TerraformEngine()
    engine.prepare(ws)
    assert (ws.work_dir / "backend.tfbackend").stat().st_mode & 0o077 == 0
    assert not (ws.source_dir / LOCAL_STATE_OVERRIDE).exists()  # it declares its backend

    lock_id = "0f5e6c1a-1111-2222-3333-444455556666"
    s3.put_object(
        Bucket="tf-state",
        Key="app/tfstate.tflock",
        Body=json.dumps(
            {
                "ID": lock_id,
                "Operation": "OperationTypeApply",
                "Who": "ci@runner",
                "Version": "1.15.5",
                "Created": "2026-11-23T10:00:00Z",
                "Path": "tf-state/app/tfstate",
                "Info": "",
            }
        ).encode(),
    )
    with pytest.raises(StateLockedError) as caught:
        engine.plan(ws)
    assert caught.value.lock_id == lock_id
    message = str(caught.value)
    assert "stack 'app': terraform plan failed: the state is locked" in message
    assert lock_id in message and "ci@runner" in message
    assert f"(`infra-gitops unlock --stack app {lock_id}`)" in message
    # Never force-unlocked behind the user's back.
    assert s3.get_object(Bucket="tf-state", Key="app/tfstate.tflock")["Body"].read()

    s3.delete_object(Bucket="tf-state", Key="app/tfstate.tflock")
    engine.apply(ws, engine.plan(ws))
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="tf-state")["Contents"]]
    assert keys == ["app/tfstate"]

    # A changed backend config re-initializes (-reconfigure) instead of failing.
    moved = replace(ws, backend_config=s3_backend(moto_url, "moved/tfstate"))
    engine.prepare(moved)
    assert engine.plan(moved).counts == ChangeCounts(create=1)


def test_backend_endpoint_down(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    source = write_stack(tmp_path / "repo", "stacks/app", S3_STACK)
    ws = workspace(tmp_path, source, env=AWS_ENV, backend_config=s3_backend(url, "k"))
    with pytest.raises(EngineError) as caught:
        TerraformEngine().prepare(ws)
    message = str(caught.value)
    assert "stack 'app': terraform init failed" in message
    assert f"endpoint {url} is down or unreachable (connection refused)" in message


def _creds() -> dict[str, str]:
    return {"aws_access_key_id": "test", "aws_secret_access_key": "test"}


def test_stacks_sharing_backend_settings_without_a_key_get_a_state_each(
    tmp_path: Path, moto_url: str
) -> None:
    s3 = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1", **_creds())
    s3.create_bucket(Bucket="shared-state")
    shared = {k: v for k, v in s3_backend(moto_url, "unused").items() if k != "key"}
    shared["bucket"] = "shared-state"
    source = write_stack(tmp_path / "repo", "stacks/app", S3_STACK)
    engine = TerraformEngine()
    for name in ("network", "storage"):
        ws = replace(
            workspace(tmp_path / name, source, env=AWS_ENV, backend_config=shared),
            stack=Stack(name=name, path="stacks/app"),
        )
        engine.prepare(ws)
        plan = engine.plan(ws)
        # Had they shared a state, the second stack would find the resource there.
        assert plan.counts.create == 1
        engine.apply(ws, plan)

    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="shared-state")["Contents"]}
    assert keys == {"network/terraform.tfstate", "storage/terraform.tfstate"}
