"""A stack removed from the manifest: destroyed only when prune was on for it, else
reported Orphaned and left alone (real daemon, real cloud)."""

from __future__ import annotations

import pytest
from daemon_helpers import MANIFEST, World, wait_for

pytestmark = pytest.mark.e2e

APP_ENTRY = MANIFEST[MANIFEST.index("  - name: app") :]


def _status(world: World, stack: str) -> str | None:
    view = world.views().get(stack)
    return str(view.status) if view else None


def _parameters(world: World) -> set[str]:
    return {p["Name"] for p in world.aws("ssm").describe_parameters()["Parameters"]}


def test_removed_stack_is_orphaned_without_prune_and_destroyed_with_it(world: World) -> None:
    first = world.commit_and_push("Declare storage and app")
    world.start_daemon()
    wait_for("both stacks applied", lambda: world.synced_at(first, "storage", "app"))
    assert _parameters(world) == {"/demo/dev/queue_url", "/demo/dev/db_password"}

    # Without prune: app leaves the manifest, its resources stay, it shows Orphaned.
    world.edit("gitops.yaml", APP_ENTRY, "")
    world.commit_and_push("Stop managing app")
    wait_for("app orphaned", lambda: _status(world, "app") == "Orphaned")
    assert _parameters(world) == {"/demo/dev/queue_url", "/demo/dev/db_password"}

    # Back, with prune on; then removed again: now it is destroyed.
    pruned_entry = APP_ENTRY.replace(
        "    path: stacks/app\n", "    path: stacks/app\n    policy: {prune: true}\n"
    )
    (world.work / "gitops.yaml").write_text(MANIFEST.replace(APP_ENTRY, pruned_entry))
    again = world.commit_and_push("Manage app again, with prune")
    wait_for("app Synced again", lambda: world.synced_at(again, "app"))
    world.edit("gitops.yaml", pruned_entry, "")
    world.commit_and_push("Remove app for good")
    destroyed = wait_for(
        "app destroyed",
        lambda: world.runs(stack="app", kind="destroy", status="applied"),
        timeout=120,
    )
    assert destroyed
    assert _parameters(world) == set()
    assert "demo-dev-artifacts" in {b["Name"] for b in world.aws("s3").list_buckets()["Buckets"]}
