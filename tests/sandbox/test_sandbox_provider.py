"""The sandbox provider end to end: the embedded Terraform, the example stacks, the moto server.

The provider runs once for the session (reattached); the cloud is reset for each test.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from sandbox_helpers import Terraform, init, work_copy

from infra_gitops.sandbox import SandboxInfo, emulator

pytestmark = pytest.mark.e2e

SECRET = "s3cr3t-Pa55word-do-not-print"


def _apply(terraform: Terraform, stack_dir: Path, *args: str, **kw: Any) -> str:
    result = terraform(
        stack_dir, "apply", "-auto-approve", "-input=false", "-no-color", *args, **kw
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def _plan_exit_code(terraform: Terraform, stack_dir: Path, *args: str, **kw: Any) -> int:
    result = terraform(
        stack_dir, "plan", "-detailed-exitcode", "-input=false", "-no-color", *args, **kw
    )
    assert result.returncode in (0, 2), result.stdout + result.stderr
    return result.returncode


def _drift(terraform: Terraform, stack_dir: Path) -> dict[str, list[str]]:
    """address -> actions of the resources Terraform sees changed outside of Terraform."""
    plan = terraform(stack_dir, "plan", "-refresh-only", "-input=false", "-out=drift.tfplan")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    shown = terraform(stack_dir, "show", "-json", "drift.tfplan")
    assert shown.returncode == 0, shown.stderr
    doc = json.loads(shown.stdout)
    return {d["address"]: d["change"]["actions"] for d in doc.get("resource_drift", [])}


@pytest.fixture
def storage(sandbox: SandboxInfo, terraform: Terraform, tmp_path: Path) -> Path:
    stack_dir = work_copy("storage", tmp_path, sandbox)
    init(terraform, stack_dir)
    _apply(terraform, stack_dir)
    return stack_dir


EXPECTED_TAGS = {"environment": "dev", "managed_by": "infra-gitops", "stack": "storage"}


def test_apply_creates_the_bucket_and_queue_with_tags(
    storage: Path, terraform: Terraform, aws: Callable[[str], Any]
) -> None:
    s3, sqs = aws("s3"), aws("sqs")
    tag_set = s3.get_bucket_tagging(Bucket="demo-dev-artifacts")["TagSet"]
    assert {t["Key"]: t["Value"] for t in tag_set} == EXPECTED_TAGS
    url = sqs.get_queue_url(QueueName="demo-dev-jobs")["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["VisibilityTimeout"] == "60"
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == EXPECTED_TAGS

    outputs = json.loads(terraform(storage, "output", "-json").stdout)
    assert outputs["bucket_name"]["value"] == "demo-dev-artifacts"
    assert outputs["queue_url"]["value"] == url
    assert outputs["queue_arn"]["value"] == attrs["QueueArn"]


def test_a_plan_right_after_apply_shows_no_changes(storage: Path, terraform: Terraform) -> None:
    assert _plan_exit_code(terraform, storage) == 0
    assert _drift(terraform, storage) == {}


def test_tags_changed_out_of_band_are_drift_and_apply_heals_them(
    storage: Path, terraform: Terraform, aws: Callable[[str], Any]
) -> None:
    s3 = aws("s3")
    s3.put_bucket_tagging(
        Bucket="demo-dev-artifacts", Tagging={"TagSet": [{"Key": "owner", "Value": "mallory"}]}
    )

    assert _drift(terraform, storage) == {"aws_s3_bucket.artifacts": ["update"]}
    assert _plan_exit_code(terraform, storage) == 2
    _apply(terraform, storage)

    tag_set = s3.get_bucket_tagging(Bucket="demo-dev-artifacts")["TagSet"]
    assert {t["Key"]: t["Value"] for t in tag_set} == EXPECTED_TAGS
    assert _plan_exit_code(terraform, storage) == 0


def test_deleted_out_of_band_is_drift_and_apply_recreates(
    storage: Path, terraform: Terraform, aws: Callable[[str], Any]
) -> None:
    s3, sqs = aws("s3"), aws("sqs")
    s3.delete_bucket(Bucket="demo-dev-artifacts")
    sqs.delete_queue(QueueUrl=sqs.get_queue_url(QueueName="demo-dev-jobs")["QueueUrl"])

    assert _drift(terraform, storage) == {
        "aws_s3_bucket.artifacts": ["delete"],
        "aws_sqs_queue.jobs": ["delete"],
    }
    _apply(terraform, storage)

    s3.head_bucket(Bucket="demo-dev-artifacts")
    sqs.get_queue_url(QueueName="demo-dev-jobs")
    assert _plan_exit_code(terraform, storage) == 0


def test_queue_attribute_drift_is_seen_and_healed_in_place(
    storage: Path, terraform: Terraform, aws: Callable[[str], Any]
) -> None:
    sqs = aws("sqs")
    url = sqs.get_queue_url(QueueName="demo-dev-jobs")["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "5"})

    assert _drift(terraform, storage) == {"aws_sqs_queue.jobs": ["update"]}
    output = _apply(terraform, storage)

    assert "0 added, 1 changed, 0 destroyed" in output  # in place: same queue URL
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])
    assert attrs["Attributes"]["VisibilityTimeout"] == "60"


def test_renaming_replaces_and_destroy_removes_everything(
    storage: Path, terraform: Terraform, aws: Callable[[str], Any]
) -> None:
    output = _apply(terraform, storage, "-var", "environment=qa")
    assert "2 added, 0 changed, 2 destroyed" in output
    s3 = aws("s3")
    assert sorted(b["Name"] for b in s3.list_buckets()["Buckets"]) == [
        "demo-qa-artifacts",
        "infra-gitops-state",
    ]

    _apply(terraform, storage, "-destroy", "-var", "environment=qa")
    assert sorted(b["Name"] for b in s3.list_buckets()["Buckets"]) == ["infra-gitops-state"]
    assert aws("sqs").list_queues().get("QueueUrls", []) == []


def test_app_stack_keeps_the_secret_out_of_terraform_output(
    sandbox: SandboxInfo, terraform: Terraform, aws: Callable[[str], Any], tmp_path: Path
) -> None:
    app = work_copy("app", tmp_path, sandbox)
    secret_env = {"TF_VAR_db_password": SECRET, "TF_VAR_queue_url": "http://q.example/jobs"}
    texts = [init(terraform, app).stdout]
    texts.append(_apply(terraform, app, extra_env=secret_env))
    plan = terraform(app, "plan", "-input=false", "-no-color", extra_env=secret_env)
    texts.append(plan.stdout + plan.stderr)

    ssm = aws("ssm")
    param = ssm.get_parameter(Name="/demo/dev/db_password", WithDecryption=True)["Parameter"]
    assert (param["Type"], param["Value"]) == ("SecureString", SECRET)
    queue = ssm.get_parameter(Name="/demo/dev/queue_url")["Parameter"]
    assert (queue["Type"], queue["Value"]) == ("String", "http://q.example/jobs")
    assert "No changes." in texts[-1]
    assert all(SECRET not in text for text in texts)


def test_parameter_value_changed_out_of_band_is_drift_and_healed(
    sandbox: SandboxInfo, terraform: Terraform, aws: Callable[[str], Any], tmp_path: Path
) -> None:
    app = work_copy("app", tmp_path, sandbox)
    secret_env = {"TF_VAR_db_password": SECRET, "TF_VAR_queue_url": "http://q.example/jobs"}
    init(terraform, app)
    _apply(terraform, app, extra_env=secret_env)
    ssm = aws("ssm")
    ssm.put_parameter(
        Name="/demo/dev/queue_url", Value="http://evil", Type="String", Overwrite=True
    )

    result = terraform(
        app, "plan", "-refresh-only", "-input=false", "-out=drift.tfplan", extra_env=secret_env
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(terraform(app, "show", "-json", "drift.tfplan").stdout)
    assert [d["address"] for d in doc["resource_drift"]] == ["aws_ssm_parameter.queue_url"]

    _apply(terraform, app, extra_env=secret_env)
    param = ssm.get_parameter(Name="/demo/dev/queue_url")["Parameter"]
    assert (param["Value"], param["Version"]) == ("http://q.example/jobs", 3)
    state = json.loads(terraform(app, "show", "-json").stdout)
    versions = {
        r["address"]: r["values"]["version"] for r in state["values"]["root_module"]["resources"]
    }
    assert versions == {"aws_ssm_parameter.queue_url": 3, "aws_ssm_parameter.db_password": 1}


def test_provider_block_endpoints_override_the_environment(
    sandbox: SandboxInfo, terraform: Terraform, aws: Callable[[str], Any], tmp_path: Path
) -> None:
    """The real provider's settings for LocalStack work here too: endpoints { s3 = ... }."""
    with emulator.running_emulator() as other:
        stack = tmp_path / "endpoints"
        stack.mkdir()
        (stack / "main.tf").write_text(
            'provider "aws" {\n'
            '  region                      = "us-east-1"\n'
            "  s3_use_path_style           = true\n"
            "  skip_credentials_validation = true\n"
            "  skip_requesting_account_id  = true\n"
            '  skip_metadata_api_check     = "true"\n'
            f'  endpoints {{\n    s3 = "{other.endpoint}"\n  }}\n'
            "}\n"
            'resource "aws_s3_bucket" "b" {\n  bucket = "elsewhere"\n}\n'
        )
        for name, text in sandbox.override_files().items():
            (stack / name).write_text(text)
        init(terraform, stack, backend=False)
        _apply(terraform, stack)

        assert aws("s3").list_buckets()["Buckets"][0]["Name"] == "infra-gitops-state"
        assert len(aws("s3").list_buckets()["Buckets"]) == 1
        other_s3 = boto3.client(
            "s3",
            endpoint_url=other.endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        assert [b["Name"] for b in other_s3.list_buckets()["Buckets"]] == ["elsewhere"]


def test_existing_resources_can_be_imported_without_changes(
    sandbox: SandboxInfo, terraform: Terraform, aws: Callable[[str], Any], tmp_path: Path
) -> None:
    aws("s3").create_bucket(Bucket="legacy")
    url = aws("sqs").create_queue(QueueName="legacyq")["QueueUrl"]
    aws("ssm").put_parameter(Name="/legacy", Value="v", Type="String")
    stack = tmp_path / "adopt"
    stack.mkdir()
    (stack / "main.tf").write_text(
        'import {\n  to = aws_s3_bucket.b\n  id = "legacy"\n}\n'
        f'import {{\n  to = aws_sqs_queue.q\n  id = "{url}"\n}}\n'
        'import {\n  to = aws_ssm_parameter.p\n  id = "/legacy"\n}\n'
        'resource "aws_s3_bucket" "b" {\n  bucket = "legacy"\n}\n'
        'resource "aws_sqs_queue" "q" {\n  name = "legacyq"\n}\n'
        'resource "aws_ssm_parameter" "p" {\n'
        '  name  = "/legacy"\n  type  = "String"\n  value = "v"\n}\n'
    )
    for name, text in sandbox.override_files().items():
        (stack / name).write_text(text)
    init(terraform, stack, backend=False)

    output = _apply(terraform, stack)

    assert "3 imported, 0 added, 0 changed, 0 destroyed" in output
    assert _plan_exit_code(terraform, stack) == 0
