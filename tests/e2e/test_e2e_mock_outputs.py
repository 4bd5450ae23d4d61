"""Mock outputs: a stack reading a dependency's output that does not exist yet is planned
with its manifest `mock:` value by `plan` and `ci plan`, marked as such everywhere, and
never applied with it (`apply` uses the real output or waits; `apply --from-plan`
refuses a plan made with a mock)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from ci_helpers import AWS_STACK_HEADER, edit, feature_branch
from e2e_helpers import Env, git

pytestmark = pytest.mark.e2e

MOCK = "https://sqs.us-east-1.amazonaws.com/000000000000/mock-jobs"
MOCKED_REFERENCE = f'queue_url: {{from_stack: storage, output: queue_url, mock: "{MOCK}"}}'
PARAMETER = "/demo/dev/queue_url"


READER_STACK = (
    AWS_STACK_HEADER
    + """
variable "queue_url" {
  type = string
}

resource "aws_s3_bucket" "reader" {
  bucket = "mock-reader"
  tags   = { queue = var.queue_url }
}
"""
)

READER_ENTRY = f"""\
  - name: reader
    path: stacks/reader
    variables:
      {MOCKED_REFERENCE}
"""


def _add_reader(e2e: Env) -> None:
    """A small stack that shows the queue URL it gets (app's SSM value is sensitive to
    the provider, so a plan never shows it): a bucket tagged with it."""
    (e2e.repo / "stacks" / "reader").mkdir()
    (e2e.repo / "stacks" / "reader" / "main.tf").write_text(READER_STACK)
    manifest = e2e.repo / "gitops.yaml"
    manifest.write_text(manifest.read_text() + READER_ENTRY)


def _planned_tag(stack: dict[str, Any]) -> Any:
    change = next(c for c in stack["plan"]["changes"] if c["address"] == "aws_s3_bucket.reader")
    return change["after"]["tags"]["queue"]


def _reader_tags(e2e: Env) -> dict[str, str]:
    tag_set = e2e.aws("s3").get_bucket_tagging(Bucket="mock-reader")["TagSet"]
    return {t["Key"]: t["Value"] for t in tag_set}


def _buckets(e2e: Env) -> list[str]:
    return [b["Name"] for b in e2e.aws("s3").list_buckets()["Buckets"]]


def _stacks(stdout: str) -> dict[str, dict[str, Any]]:
    return {s["stack"]: s for s in json.loads(stdout)["result"]["stacks"]}


def test_plan_uses_the_mock_until_storage_is_applied_then_apply_uses_the_real_output(
    e2e: Env,
) -> None:
    _add_reader(e2e)
    e2e.commit("reader: mock storage's queue URL for plans before storage exists")
    validated = e2e.cli("validate")
    assert validated.code == 0, validated.output
    assert "reader: variable 'queue_url' has a mock for output 'queue_url' of storage" in (
        validated.stdout
    )

    planned = e2e.cli("plan", "--json")

    assert planned.code == 2, planned.output
    stacks = _stacks(planned.stdout)
    reader = stacks["reader"]
    assert reader["status"] == "changes"
    assert reader["plan"]["mock_outputs"] == ["storage.queue_url"]
    assert "planned against mock outputs of storage: queue_url" in reader["note"]
    assert _planned_tag(reader) == MOCK
    assert stacks["storage"]["plan"]["mock_outputs"] == []
    assert stacks["storage"]["note"] is None
    # Without a mock, app waits on storage, as it always did.
    assert stacks["app"]["status"] == "skipped"
    assert "waiting on storage" in stacks["app"]["error"]
    # The run record keeps it too.
    shown = e2e.cli("show", reader["run_id"], "--artifact", "mock-outputs.json")
    assert shown.code == 0, shown.output
    assert json.loads(shown.stdout)["mock_outputs"] == ["storage.queue_url"]
    text = e2e.cli("plan", "--stack", "reader").stdout
    assert "reader: changes [planned against mock outputs]" in text
    assert "planned against mock outputs of storage: queue_url" in text

    applied = e2e.cli("apply", "--auto-approve", "--json")

    assert applied.code == 0, applied.output
    assert {s["status"] for s in _stacks(applied.stdout).values()} == {"applied"}
    real = e2e.aws("sqs").get_queue_url(QueueName="demo-dev-jobs")["QueueUrl"]
    assert _reader_tags(e2e)["queue"] == real != MOCK
    assert e2e.aws("ssm").get_parameter(Name=PARAMETER)["Parameter"]["Value"] == real
    # Once the output exists it wins: no mock, nothing left to change.
    again = _stacks(e2e.cli("plan", "--stack", "reader", "--json").stdout)["reader"]
    assert again["status"] == "no-changes"
    assert again["plan"]["mock_outputs"] == []
    assert again["note"] is None


def test_apply_never_uses_the_mock(e2e: Env) -> None:
    _add_reader(e2e)
    e2e.commit("reader: mock storage's queue URL")

    alone = e2e.cli("apply", "--auto-approve", "--stack", "reader", "--json")

    assert alone.code == 1, alone.output
    reader = _stacks(alone.stdout)["reader"]
    assert reader["status"] == "skipped"
    assert "waiting on storage" in reader["error"]
    assert "mock-reader" not in _buckets(e2e)
    # storage fails (its code does not parse): reader is not applied either.
    with (e2e.repo / "stacks" / "storage" / "main.tf").open("a") as main_tf:
        main_tf.write("this is not HCL\n")
    e2e.commit("storage: broken")

    broken = e2e.cli("apply", "--auto-approve", "--json")

    assert broken.code == 1, broken.output
    stacks = _stacks(broken.stdout)
    assert stacks["storage"]["status"] == "failed"
    assert stacks["reader"]["status"] == "skipped"
    assert "mock-reader" not in _buckets(e2e)


MAIN_MANIFEST = """\
version: 1
stacks:
  - name: storage
    path: stacks/storage
    variables:
      name_prefix: demo
      environment: dev
"""


def test_ci_plan_marks_the_mocked_plan_and_apply_from_plan_refuses_it(
    e2e: Env, tmp_path: Path
) -> None:
    (e2e.repo / "gitops.yaml").write_text(MAIN_MANIFEST)
    e2e.commit("storage only")
    feature_branch(e2e)
    _add_reader(e2e)
    edit(e2e, "stacks/storage/main.tf", '"storage"\n', '"storage"\n    team        = "data"\n')
    head = e2e.commit("storage tagged, and reader on top of it")
    store, report = tmp_path / "plans", tmp_path / "report.md"

    done = e2e.cli(
        "ci", "plan", "--base", "main", "--store", str(store), "--markdown", str(report), "--json"
    )

    assert done.code == 2, done.output
    stacks = _stacks(done.stdout)
    assert stacks["reader"]["status"] == "changes"
    assert stacks["reader"]["plan"]["mock_outputs"] == ["storage.queue_url"]
    assert _planned_tag(stacks["reader"]) == MOCK
    assert "1 against mock outputs, not appliable" in json.loads(done.stdout)["result"]["summary"]
    markdown = report.read_text()
    assert "### `reader`: 1 to create, 0 to update, 0 to replace, 0 to delete (against mock" in (
        markdown
    )
    assert "> :warning: **Mock outputs**: planned against mock outputs of storage: queue_url" in (
        markdown
    )
    assert "Not ready to apply: `reader` planned against mock outputs" in markdown
    # A plan made with a mock keeps no saved file: nothing could ever apply it.
    assert list(store.glob(f"{head}/reader/*/plan.tfplan")) == []
    assert len(list(store.glob(f"{head}/storage/*/plan.tfplan"))) == 1
    git(e2e.repo, "checkout", "-q", "main")
    git(e2e.repo, "merge", "-q", "--ff-only", "feature")

    merged = e2e.cli("apply", "--from-plan", "--store", str(store), "--json")

    assert merged.code == 1, merged.output
    stacks = _stacks(merged.stdout)
    assert stacks["storage"]["status"] == "applied"
    assert stacks["reader"]["status"] == "failed"
    assert stacks["reader"]["run_id"] is None  # nothing ran
    error = stacks["reader"]["error"]
    assert "refused: its plan used mock outputs of storage (storage.queue_url)" in error
    assert "Plan it again once storage is applied" in error
    assert "mock-reader" not in _buckets(e2e)


def test_a_sensitive_mock_is_never_shown(e2e: Env) -> None:
    _add_reader(e2e)
    secret = "mock-secret-4b1d9e"
    edit(e2e, "gitops.yaml", f'mock: "{MOCK}"}}', f'mock: "{secret}", sensitive: true}}')
    e2e.commit("reader: a secret mock")

    planned = e2e.cli("plan", "--stack", "reader", "--json")

    assert planned.code == 2, planned.output
    reader = _stacks(planned.stdout)["reader"]
    assert reader["plan"]["mock_outputs"] == ["storage.queue_url"]
    assert _planned_tag(reader) == "(sensitive value)"
    kept = [
        e2e.cli("show", reader["run_id"], "--artifact", name)
        for name in ("plan.json", "log.txt", "mock-outputs.json")
    ]
    assert [k.code for k in kept] == [0, 0, 0], [k.output for k in kept]
    for text in (planned.output, *(k.stdout for k in kept)):
        assert secret not in text
