"""`infra-gitops rollback`: both ways of keeping auto-apply from undoing it."""

from __future__ import annotations

import json

import pytest
from daemon_helpers import World, git, wait_for

pytestmark = pytest.mark.e2e

_TAG_OLD = 'stack       = "storage"'
_TAG_NEW = 'stack       = "storage"\n    owner       = "platform"'


def _two_commits_applied(world: World) -> tuple[str, str]:
    first = world.commit_and_push("Declare storage and app")
    world.start_daemon()
    wait_for("both stacks applied", lambda: world.synced_at(first, "storage", "app"))
    world.edit("stacks/storage/main.tf", _TAG_OLD, _TAG_NEW)
    second = world.commit_and_push("Tag storage with its owner")
    wait_for("storage applied at the second commit", lambda: world.synced_at(second, "storage"))
    assert world.bucket_tags()["owner"] == "platform"
    return first, second


def test_rollback_makes_a_revert_commit_the_daemon_then_follows(world: World) -> None:
    first, second = _two_commits_applied(world)
    done = world.cli(
        "rollback", "storage", "--to", first, "--reason", "owner tag broke billing", "--json"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)["result"]
    assert result["method"] == "revert"
    assert "owner" not in world.bucket_tags()

    revert = git(world.remote, "rev-parse", "main").strip()
    assert revert == result["revert_commit"] != second
    message = git(world.remote, "log", "-1", "--format=%B", "main")
    assert f"Roll back stack storage to {first[:10]}" in message
    assert "owner tag broke billing" in message
    assert git(world.remote, "show", "main:stacks/storage/main.tf") == git(
        world.remote, "show", f"{first}:stacks/storage/main.tf"
    )
    (rollback_run,) = [r for r in world.runs(stack="storage") if r.trigger == "rollback"]
    assert rollback_run.commit.sha == first
    # The daemon may take the pushed revert commit in and apply it before the rollback's
    # own apply runs (same content): then that one finds nothing left to change.
    assert str(rollback_run.status) in ("applied", "no-changes")
    appliers = [r for r in world.runs(stack="storage") if str(r.status) == "applied"]
    assert appliers[0].trigger in ("rollback", "daemon:commit"), appliers[0]
    assert result["run_id"] == rollback_run.id

    # The daemon takes the revert commit in and leaves the stack as rolled back.
    wait_for(
        "the daemon at the revert commit",
        lambda: world.views()["storage"].desired_commit == revert,
    )
    assert str(world.views()["storage"].status) == "Synced"
    assert "owner" not in world.bucket_tags()


def test_rollback_with_pause_holds_auto_apply_until_a_commit_touches_the_stack(
    world: World,
) -> None:
    first, second = _two_commits_applied(world)
    done = world.cli("rollback", "storage", "--to", first, "--pause", "--reason", "incident 42")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "paused auto-apply of storage until the next commit that touches it" in done.stdout
    assert git(world.remote, "rev-parse", "main").strip() == second  # no commit made
    assert "owner" not in world.bucket_tags()

    # A commit touching only app: storage stays rolled back (paused, OutOfSync).
    world.edit(
        "stacks/app/main.tf", 'stack       = "app"', 'stack       = "app"\n    team        = "web"'
    )
    third = world.commit_and_push("Tag the app")
    wait_for("app applied at the third commit", lambda: world.synced_at(third, "app"))
    storage = wait_for(
        "storage held at the third commit",
        lambda: (v := world.views()["storage"]).desired_commit == third and v,
    )
    assert str(storage.status) == "OutOfSync" and storage.auto_apply_paused
    assert "paused" in storage.message
    assert "owner" not in world.bucket_tags()

    # A commit touching storage lifts the pause.
    world.edit("stacks/storage/main.tf", 'owner       = "platform"', 'owner       = "data"')
    fourth = world.commit_and_push("Storage belongs to data")
    wait_for("storage applied at the fourth commit", lambda: world.synced_at(fourth, "storage"))
    assert world.bucket_tags()["owner"] == "data"
    assert not world.views()["storage"].auto_apply_paused
