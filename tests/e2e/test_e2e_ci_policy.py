"""A plan that breaks a manifest policy fails `ci plan`, naming the rule, the stack and
the resource everywhere it reports, and is never applied by `apply --from-plan`."""

from __future__ import annotations

from pathlib import Path

import pytest
from ci_helpers import LOGS_STACK, feature_branch, three_stacks
from e2e_helpers import Env, git

pytestmark = pytest.mark.e2e


def test_deleting_a_resource_of_a_prod_stack_fails_with_the_rule_named(
    e2e: Env, tmp_path: Path
) -> None:
    three_stacks(e2e)
    assert e2e.cli("apply", "--auto-approve", "--stack", "logs").code == 0
    feature_branch(e2e)
    archive = LOGS_STACK[LOGS_STACK.index('resource "aws_s3_bucket" "archive"') :]
    (e2e.repo / "stacks/logs/main.tf").write_text(LOGS_STACK.replace(archive, ""))
    e2e.commit("Drop the archive bucket")

    report = tmp_path / "report.md"
    done = e2e.cli("ci", "plan", "--base", "main", "--markdown", str(report))
    assert done.code == 1, done.output
    assert (
        "POLICY VIOLATION: policy 'no-prod-deletes' violated in logs: aws_s3_bucket.archive: "
        "delete of aws_s3_bucket.archive is denied" in done.stdout
    )
    text = report.read_text()
    assert "## :no_entry: infra-gitops plan: policy violated" in text
    assert "| **no-prod-deletes** | `logs` | `aws_s3_bucket.archive` |" in text
    assert "| :x: **delete** | `aws_s3_bucket.archive` |" in text

    git(e2e.repo, "checkout", "-q", "main")
    git(e2e.repo, "merge", "-q", "--ff-only", "feature")
    refused = e2e.cli("apply", "--from-plan")
    assert refused.code == 1
    assert "refused: its plan broke policy" in refused.stdout
    assert "ci-logs-archive" in [b["Name"] for b in e2e.aws("s3").list_buckets()["Buckets"]]
