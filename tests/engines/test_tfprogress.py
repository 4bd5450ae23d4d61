"""Terraform's `apply -json` stream -> progress lines, run-log text and failures.

The streams in data/apply_*.jsonl were recorded with the real embedded Terraform and the
sandbox provider on moto (data/record_apply.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra_gitops.engines.base import StackWorkspace
from infra_gitops.engines.terraform import classify_failure
from infra_gitops.engines.tfprogress import ApplyUi, progress_line, read_message
from infra_gitops.models import Stack

DATA = Path(__file__).parent / "data"


def _fed(name: str) -> tuple[list[str], list[str], ApplyUi]:
    steps: list[str] = []
    logged: list[str] = []
    ui = ApplyUi(steps.append, logged.append)
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
    assert ui.failure_output() == ""


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


def test_a_long_running_resource_says_it_is_still_working() -> None:
    # Terraform sends apply_progress every 10s of a long operation: the recorded
    # apply_start with the fields apply_progress adds.
    start = next(
        read_message(line)
        for line in (DATA / "apply_create.jsonl").read_text().splitlines()
        if '"apply_start"' in line
    )
    assert start is not None
    still = {**start, "type": "apply_progress", "hook": {**start["hook"], "elapsed_seconds": 20}}
    address = start["hook"]["resource"]["addr"]
    assert progress_line(still) == f"{address}: still creating (20s elapsed)"


def test_an_errored_resource_is_shown_and_its_diagnostic_kept_for_the_failure() -> None:
    steps, logged, ui = _fed("apply_errored.jsonl")
    assert "aws_s3_bucket.artifacts: creating failed (1s)" in steps
    assert "aws_sqs_queue.jobs: created (0s)" in steps
    assert any("InvalidBucketName" in line for line in logged)
    assert "Error: creating S3 bucket x failed" in ui.failure_output()


@pytest.mark.parametrize("line", ["", "not json", "[1, 2]", json.dumps({"type": "apply_start"})])
def test_lines_that_are_not_resource_messages_make_no_progress(line: str) -> None:
    steps: list[str] = []
    ApplyUi(steps.append, lambda _: None).feed(line)
    assert steps == []


def test_a_failed_apply_reports_the_same_error_as_terraform_plain_text(tmp_path: Path) -> None:
    ws = StackWorkspace(
        stack=Stack(name="storage", path="stacks/storage"),
        source_dir=tmp_path,
        work_dir=tmp_path,
        env={},
    )
    _, _, ui = _fed("apply_errored.jsonl")
    from_json = classify_failure(ws, "terraform", "apply", ui.failure_output())
    from_text = classify_failure(ws, "terraform", "apply", (DATA / "apply_errored.txt").read_text())
    assert str(from_json) == str(from_text)
    assert str(from_json) == (
        "stack 'storage': terraform apply failed:\n"
        "  stacks/storage/main.tf:16: creating S3 bucket x failed: ClientError: An error "
        "occurred (InvalidBucketName) when calling the CreateBucket operation: The specified "
        "bucket is not valid."
    )
