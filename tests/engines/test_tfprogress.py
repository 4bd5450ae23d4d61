"""Terraform's `apply -json` stream -> progress lines, run-log text and diagnostics.

The streams in data/apply_*.jsonl were recorded with the real embedded Terraform and the
sandbox provider on moto (data/record_apply.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

# The engine tests' helpers (moto_url is tests/conftest.py's fixture).
from test_terraform import (
    AWS_ENV,
    S3_STACK,
    _creds,
    s3_backend,
    workspace,
    write_stack,
)

from infra_gitops.engines.terraform import TerraformEngine
from infra_gitops.engines.tfdiagnostics import Diagnostic, classify, parse_text
from infra_gitops.engines.tfprogress import JsonUi, progress_line, read_message
from infra_gitops.errors import StateLockedError

DATA = Path(__file__).parent / "data"


def _fed(name: str) -> tuple[list[str], list[str], JsonUi]:
    steps: list[str] = []
    logged: list[str] = []
    ui = JsonUi(steps.append, logged.append)
    for line in (DATA / name).read_text().splitlines():
        ui.feed(line)
    return steps, logged, ui


def _sorted_by_resource(steps: list[str]) -> list[str]:
    # Terraform works on independent resources in parallel: their order varies.
    return sorted(steps, key=lambda step: step.split(":")[0])


def test_created_resources_show_start_and_completion_with_elapsed_time() -> None:
    steps, logged, ui = _fed("apply_create.jsonl")
    assert _sorted_by_resource(steps) == [
        "aws_s3_bucket.artifacts: creating...",
        "aws_s3_bucket.artifacts: created (0s)",
        "aws_sqs_queue.jobs: creating...",
        "aws_sqs_queue.jobs: created (0s)",
    ]
    # The run log keeps Terraform's own words, not raw JSON.
    assert "Apply complete! Resources: 2 added, 0 changed, 0 destroyed." in logged
    assert not any(line.startswith("{") for line in logged)
    assert ui.diagnostics == [] and ui.other_lines == []


def test_updated_and_destroyed_resources() -> None:
    updated, _, _ = _fed("apply_update.jsonl")
    assert updated == [
        "aws_s3_bucket.artifacts: updating...",
        "aws_s3_bucket.artifacts: updated (0s)",
    ]
    destroyed, _, _ = _fed("apply_destroy.jsonl")
    assert _sorted_by_resource(destroyed) == [
        "aws_s3_bucket.artifacts: destroying...",
        "aws_s3_bucket.artifacts: destroyed (1s)",
        "aws_sqs_queue.jobs: destroying...",
        "aws_sqs_queue.jobs: destroyed (1s)",
    ]


def _recorded_apply_start() -> dict[str, Any]:
    """The first apply_start message of the recorded apply."""
    start = next(
        read_message(line)
        for line in (DATA / "apply_create.jsonl").read_text().splitlines()
        if '"apply_start"' in line
    )
    assert start is not None
    return start


def test_a_long_running_resource_says_it_is_still_working() -> None:
    # Terraform sends apply_progress every 10s of a long operation: the recorded
    # apply_start with the fields apply_progress adds.
    start = _recorded_apply_start()
    still = {**start, "type": "apply_progress", "hook": {**start["hook"], "elapsed_seconds": 20}}
    address = start["hook"]["resource"]["addr"]
    assert progress_line(still) == f"{address}: still creating (20s elapsed)"


def test_an_errored_resource_is_shown_and_its_diagnostic_kept_for_the_failure() -> None:
    steps, logged, ui = _fed("apply_errored.jsonl")
    assert "aws_s3_bucket.artifacts: creating failed (1s)" in steps
    assert "aws_sqs_queue.jobs: created (0s)" in steps
    # The log has the diagnostic as Terraform's text: summary, place and detail.
    assert any(
        line.startswith("Error: creating S3 bucket x failed\n\n  on main.tf line 16:")
        and "InvalidBucketName" in line
        for line in logged
    )
    assert ui.diagnostics == [
        Diagnostic(
            severity="error",
            summary="creating S3 bucket x failed",
            detail="ClientError: An error occurred (InvalidBucketName) when calling the "
            "CreateBucket operation: The specified bucket is not valid.",
            file="main.tf",
            line=16,
        )
    ]


def test_progress_lines_are_scrubbed_of_known_secrets() -> None:
    steps: list[str] = []
    ui = JsonUi(steps.append, lambda _: None, lambda text: text.replace("artifacts", "***"))
    for line in (DATA / "apply_create.jsonl").read_text().splitlines():
        ui.feed(line)
    assert "aws_s3_bucket.***: creating..." in steps
    assert not any("artifacts" in step for step in steps)


def test_an_action_without_words_still_names_the_resource() -> None:
    start = _recorded_apply_start()
    moved = {**start, "hook": {**start["hook"], "action": "frobnicate"}}
    assert progress_line(moved) == f"{start['hook']['resource']['addr']}: changing..."


@pytest.mark.parametrize("line", ["", "not json", "[1, 2]", json.dumps({"type": "apply_start"})])
def test_lines_that_are_not_resource_messages_make_no_progress(line: str) -> None:
    steps: list[str] = []
    JsonUi(steps.append, lambda _: None).feed(line)
    assert steps == []


def _classified(diagnostics: list[Diagnostic]) -> str:
    return str(
        classify(
            where="stack 'storage': terraform apply failed",
            stack="storage",
            stack_path="stacks/storage",
            source_dir="/snapshot/stacks/storage",
            diagnostics=diagnostics,
            other_output="",
        )
    )


def test_a_failed_apply_reports_the_same_error_as_terraform_plain_text() -> None:
    _, _, ui = _fed("apply_errored.jsonl")
    from_json = _classified(ui.diagnostics)
    from_text = _classified(parse_text((DATA / "apply_errored.txt").read_text()))
    assert from_json == from_text
    assert from_json == (
        "stack 'storage': terraform apply failed:\n"
        "  stacks/storage/main.tf:16: creating S3 bucket x failed: ClientError: An error "
        "occurred (InvalidBucketName) when calling the CreateBucket operation: The specified "
        "bucket is not valid."
    )


def test_a_state_lock_taken_between_plan_and_apply_is_reported_with_its_id(
    tmp_path: Path,
    moto_url: str,
) -> None:
    # The lock error of an apply is a -json diagnostic now: it must still be a
    # StateLockedError carrying the lock's ID and holder.
    s3 = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1", **_creds())
    s3.create_bucket(Bucket="tf-state")
    source = write_stack(tmp_path / "repo", "stacks/app", S3_STACK)
    # Its own key: moto's buckets live as long as the process, and the engine tests use
    # the same bucket with the key app/tfstate.
    backend = s3_backend(moto_url, "progress/tfstate")
    ws = workspace(tmp_path, source, env=AWS_ENV, backend_config=backend)
    engine = TerraformEngine()
    engine.prepare(ws)
    plan = engine.plan(ws)
    lock_id = "7d3e9a10-aaaa-4bbb-8ccc-ddddeeee0001"
    lock = {"ID": lock_id, "Operation": "OperationTypeApply", "Who": "ci@runner", "Info": ""}
    s3.put_object(Bucket="tf-state", Key="progress/tfstate.tflock", Body=json.dumps(lock).encode())

    with pytest.raises(StateLockedError) as caught:
        engine.apply(ws, plan)
    assert caught.value.lock_id == lock_id
    assert "stack 'app': terraform apply failed: the state is locked" in str(caught.value)
    assert "ci@runner" in str(caught.value)
    listing = s3.list_objects_v2(Bucket="tf-state", Prefix="progress/")
    assert [o["Key"] for o in listing.get("Contents", [])] == ["progress/tfstate.tflock"]
