"""Long applies show the engine's live progress: which resource is being created,
updated or destroyed and when it is done (real CLI, embedded Terraform, sandbox)."""

from __future__ import annotations

import json

import pytest
from e2e_helpers import Env, bucket_name

from infra_gitops.runs import RunKind, RunStatus, RunStore

pytestmark = pytest.mark.e2e

BUCKET = "aws_s3_bucket.artifacts"


def test_apply_shows_each_resource_being_created_and_created(e2e: Env) -> None:
    result = e2e.cli("apply", "--auto-approve")
    assert result.code == 0, result.output
    assert bucket_name(e2e) == "demo-dev-artifacts"
    lines = result.stderr.splitlines()
    creating = [i for i, ln in enumerate(lines) if ln.endswith(f"storage: {BUCKET}: creating...")]
    created = [i for i, ln in enumerate(lines) if f"storage: {BUCKET}: created (" in ln]
    assert len(creating) == 1 and len(created) == 1, result.stderr
    assert creating[0] < created[0]
    # Progress lines are for people on stderr; stdout stays the command's result.
    assert "creating..." not in result.stdout


def test_destroy_shows_each_resource_being_destroyed(e2e: Env) -> None:
    assert e2e.cli("apply", "--auto-approve").code == 0
    result = e2e.cli("destroy", "--stack", "app", "--auto-approve")
    assert result.code == 0, result.output
    assert "app: aws_ssm_parameter.db_password: destroying..." in result.stderr, result.stderr
    assert "app: aws_ssm_parameter.db_password: destroyed (" in result.stderr


def test_quiet_apply_prints_no_progress(e2e: Env) -> None:
    result = e2e.cli("apply", "--auto-approve", "-q")
    assert result.code == 0, result.output
    assert bucket_name(e2e) == "demo-dev-artifacts"
    assert BUCKET not in result.stderr
    assert "creating" not in result.stderr


def test_a_failing_apply_reports_terraforms_error_with_file_and_line(e2e: Env) -> None:
    # The parameter exists already: the plan succeeds, the apply fails creating it.
    e2e.aws("ssm").put_parameter(Name="/demo/dev/db_password", Value="x", Type="String")
    result = e2e.cli("apply", "--auto-approve", "--json")
    assert result.code == 1, result.output
    stacks = {s["stack"]: s for s in json.loads(result.stdout)["result"]["stacks"]}
    error = stacks["app"]["error"]
    # Word for word what the plain-text apply reported before -json (file and line
    # from Terraform's diagnostic, in the repo's terms).
    assert error == (
        "stack 'app': terraform apply failed:\n"
        "  stacks/app/main.tf:34: creating SSM parameter /demo/dev/db_password failed: "
        "ParameterAlreadyExists: An error occurred (ParameterAlreadyExists) when calling the "
        "PutParameter operation: The parameter already exists. To overwrite this value, set "
        "the overwrite option in the request to true."
    )
    assert "app: aws_ssm_parameter.db_password: creating failed (" in result.stderr
    with RunStore.open(e2e.state_dir) as store:
        (failed,) = store.list(stack="app", kind=RunKind.APPLY)
    assert failed.status is RunStatus.FAILED
    assert failed.error == error
