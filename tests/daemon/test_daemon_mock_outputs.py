"""The daemon never uses a from_stack variable's mock value: a stack whose dependency's
state lacks the output waits, exactly as without a mock (mocks are for `plan` and
`ci plan` only)."""

from __future__ import annotations

import pytest
from daemon_helpers import READS_ARTIFACTS_BUCKET, World, wait_for

from infra_gitops.models import RunStatus

pytestmark = pytest.mark.e2e


def test_the_daemon_waits_on_a_missing_output_even_with_a_mock(world: World) -> None:
    (world.work / "stacks" / "app" / "artifacts.tf").write_text(READS_ARTIFACTS_BUCKET)
    world.edit(
        "gitops.yaml",
        "      queue_url: {from_stack: storage, output: queue_url}",
        "      queue_url: {from_stack: storage, output: queue_url}\n"
        "      artifacts_bucket: {from_stack: storage, output: artifacts_bucket, "
        "mock: mock-bucket}",
    )
    first = world.commit_and_push("app reads an output storage does not have, with a mock")
    world.start_daemon()
    wait_for("storage applied", lambda: world.synced_at(first, "storage"))

    [held, *_] = wait_for(
        "app held back, waiting on the output",
        lambda: [r for r in world.runs(commit=first, stack="app") if r.status is RunStatus.SKIPPED],
    )

    assert held.error is not None and "waiting on storage" in held.error
    assert not [r for r in world.runs(stack="app") if r.status is RunStatus.APPLIED]
    found = world.aws("ssm").get_parameters_by_path(Path="/demo", Recursive=True)["Parameters"]
    assert [p["Name"] for p in found] == []
