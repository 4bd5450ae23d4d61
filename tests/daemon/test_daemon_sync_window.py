"""Sync windows on a real daemon: an active deny window holds the apply and says so;
the next commit that lifts it lets the stack apply."""

from __future__ import annotations

import pytest
from daemon_helpers import MANIFEST, World, wait_for

pytestmark = pytest.mark.e2e

DENY_STORAGE = """\
sync_windows:
  - kind: deny
    schedule: "* * * * *"
    duration: 2h
    stacks: [storage]
"""


def test_an_active_deny_window_holds_the_apply_until_a_commit_lifts_it(world: World) -> None:
    (world.work / "gitops.yaml").write_text(MANIFEST + DENY_STORAGE)
    held_at = world.commit_and_push("Declare the stacks behind a deny window")
    world.start_daemon()

    def held() -> str | None:
        view = world.views().get("storage")
        return view.message if view and "sync window" in view.message else None

    message = wait_for("storage held by the window", held)
    assert "deny" in message
    assert str(world.views()["storage"].status) == "OutOfSync"
    assert world.runs(commit=held_at, stack="storage", kind="apply") == []
    # app needs storage's outputs: its apply waits on storage and says so.
    app_runs = wait_for("app's apply", lambda: world.runs(commit=held_at, stack="app"))
    assert {str(r.status) for r in app_runs} == {"skipped"}
    assert "waiting on storage" in (app_runs[0].error or "")
    assert "demo-dev-artifacts" not in {
        b["Name"] for b in world.aws("s3").list_buckets()["Buckets"]
    }

    (world.work / "gitops.yaml").write_text(MANIFEST)
    lifted = world.commit_and_push("Lift the window")
    wait_for("storage applied once the window is gone", lambda: world.synced_at(lifted, "storage"))
    assert world.bucket_tags()["stack"] == "storage"
