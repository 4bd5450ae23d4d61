"""The daemon applies a commit that only adds an output (Terraform's plan exits 2 for it),
and the stack waiting on that output is then applied."""

from __future__ import annotations

import pytest
from daemon_helpers import READS_ARTIFACTS_BUCKET, World, wait_for

from infra_gitops.models import RunKind, RunStatus

pytestmark = pytest.mark.e2e

NEW_OUTPUT = """
output "artifacts_bucket" {
  value = aws_s3_bucket.artifacts.bucket
}
"""


def test_an_output_only_commit_is_applied_and_its_dependent_stack_then_applies(
    world: World,
) -> None:
    (world.work / "stacks" / "app" / "artifacts.tf").write_text(READS_ARTIFACTS_BUCKET)
    world.edit(
        "gitops.yaml",
        "      queue_url: {from_stack: storage, output: queue_url}",
        "      queue_url: {from_stack: storage, output: queue_url}\n"
        "      artifacts_bucket: {from_stack: storage, output: artifacts_bucket}",
    )
    first = world.commit_and_push("app reads an output storage does not have yet")
    world.start_daemon()
    wait_for("storage applied at the first commit", lambda: world.synced_at(first, "storage"))
    wait_for(
        "app held back, waiting on the output",
        lambda: [r for r in world.runs(commit=first, stack="app") if r.status is RunStatus.SKIPPED],
    )

    (world.work / "stacks" / "storage" / "artifacts_output.tf").write_text(NEW_OUTPUT)
    second = world.commit_and_push("storage: expose the artifacts bucket")
    wait_for(
        "storage and app applied at the second commit",
        lambda: world.synced_at(second, "storage", "app"),
        timeout=120,
    )
    [storage_apply] = [
        r for r in world.runs(commit=second, stack="storage") if r.kind is RunKind.APPLY
    ]
    assert storage_apply.status is RunStatus.APPLIED
    assert storage_apply.changes == () and storage_apply.counts.outputs == 1
    parameter = world.aws("ssm").get_parameter(Name="/demo/dev/artifacts_bucket")["Parameter"]
    assert parameter["Value"] == "demo-dev-artifacts"
