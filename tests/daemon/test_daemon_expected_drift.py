"""The daemon and expected drift (policy ignore_drift): a real daemon process on the
local cloud, its notifications received over real HTTP."""

from __future__ import annotations

import pytest
from daemon_helpers import World, wait_for
from edge_helpers import Receiver, receiving

pytestmark = pytest.mark.e2e

BUCKET = "demo-dev-artifacts"


def _tag(world: World, **changes: str) -> None:
    tags = {**world.bucket_tags(), **changes}
    world.aws("s3").put_bucket_tagging(
        Bucket=BUCKET, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]}
    )


def test_expected_drift_stays_synced_unnotified_and_survives_the_heal(world: World) -> None:
    world.edit(
        "gitops.yaml",
        "    variables: {name_prefix: demo, environment: dev}\n",
        "    variables: {name_prefix: demo, environment: dev}\n"
        "    policy: {ignore_drift: [tags.CostCenter]}\n",
    )
    first = world.commit_and_push("storage: the finance tool owns CostCenter tags")
    with receiving(Receiver()) as receiver:
        world.start_daemon("--drift-interval", "1", "--notify-webhook", receiver.url)
        wait_for("both stacks applied", lambda: world.synced_at(first, "storage", "app"))
        _tag(world, CostCenter="finance-42")

        def checked_after_the_tag() -> bool:
            drift = world.runs(stack="storage", kind="drift")
            return any(r.drift and r.drift[0].ignored_paths for r in drift)

        wait_for("a drift check that saw the expected change", checked_after_the_tag)
        assert str(world.views()["storage"].status) == "Synced"
        assert world.runs(stack="storage", kind="heal") == []
        assert world.bucket_tags()["CostCenter"] == "finance-42"

        _tag(world, environment="hand-edited")
        wait_for("the heal", lambda: world.bucket_tags().get("environment") == "dev")
        assert world.bucket_tags()["CostCenter"] == "finance-42"

        def kinds() -> list[str]:
            return [r.json()["kind"] for r in receiver.received]

        wait_for("the heal's notification", lambda: "healed" in kinds())
        received = kinds()
    assert received.count("drift") == 0 and received.count("healed") == 1, received
