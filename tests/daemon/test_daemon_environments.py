"""The daemon and a stack deployed to several environments: each instance applied,
checked and healed on its own (a real daemon process on the local cloud)."""

from __future__ import annotations

import pytest
from daemon_helpers import World, wait_for

pytestmark = pytest.mark.e2e

MANIFEST = """\
version: 1
defaults:
  engine: terraform
  policy: {drift_interval: 5m, self_heal: true, auto_apply: true}
stacks:
  - name: storage
    path: stacks/storage
    variables: {name_prefix: demo}
    environments:
      - name: dev
        variables: {environment: dev}
      - name: prod
        variables: {environment: prod}
"""


def test_each_instance_is_applied_and_healed_on_its_own(world: World) -> None:
    (world.work / "gitops.yaml").write_text(MANIFEST)
    first = world.commit_and_push("storage in dev and prod")
    daemon = world.start_daemon("--drift-interval", "1")
    wait_for(
        "both instances applied", lambda: world.synced_at(first, "storage@dev", "storage@prod")
    )
    status, listed = daemon.get("/api/stacks")
    assert status == 200
    assert sorted(s["name"] for s in listed) == ["storage@dev", "storage@prod"]
    status, one = daemon.get("/api/stacks/storage@prod")
    assert status == 200, one

    s3 = world.aws("s3")
    s3.put_bucket_tagging(
        Bucket="demo-prod-artifacts", Tagging={"TagSet": [{"Key": "owner", "Value": "mallory"}]}
    )

    def prod_tags() -> dict[str, str]:
        tag_set = s3.get_bucket_tagging(Bucket="demo-prod-artifacts")["TagSet"]
        return {t["Key"]: t["Value"] for t in tag_set}

    wait_for("prod's tags restored", lambda: prod_tags().get("environment") == "prod")
    assert world.runs(stack="storage@prod", kind="heal")
    assert world.runs(stack="storage@dev", kind="heal") == []
