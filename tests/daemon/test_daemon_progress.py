"""The daemon's applies show, in its log, which resource is being created and when it is
done (real daemon, embedded Terraform, sandbox)."""

from __future__ import annotations

import pytest
from daemon_helpers import MANIFEST, World, wait_for

pytestmark = pytest.mark.e2e


def test_the_daemons_log_shows_each_resource_being_created_and_created(world: World) -> None:
    (world.work / "gitops.yaml").write_text(MANIFEST[: MANIFEST.index("  - name: app")])
    first = world.commit_and_push("Declare storage")
    daemon = world.start_daemon()
    wait_for("storage applied", lambda: world.synced_at(first, "storage"))
    assert world.bucket_tags(), "the bucket was not created"
    log = daemon.log
    assert "storage: aws_s3_bucket.artifacts: creating..." in log, log
    assert "storage: aws_s3_bucket.artifacts: created (" in log, log
