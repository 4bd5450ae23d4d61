"""The daemon applies what is pushed, only what a commit changes, records it against the
commit (run records and git notes), heals drift, and survives a bad commit."""

from __future__ import annotations

import json

import pytest
from daemon_helpers import World, git, wait_for

pytestmark = pytest.mark.e2e


def test_a_pushed_commit_is_applied_and_only_affected_stacks_run_on_the_next(
    world: World,
) -> None:
    first = world.commit_and_push("Declare storage and app")
    daemon = world.start_daemon("--push-notes")
    wait_for(
        "both stacks applied at the first commit", lambda: world.synced_at(first, "storage", "app")
    )
    runs = world.runs(commit=first)
    assert {(r.stack, str(r.kind), str(r.status), r.trigger) for r in runs} == {
        ("storage", "apply", "applied", "daemon:commit"),
        ("app", "apply", "applied", "daemon:commit"),
    }
    assert world.aws("ssm").get_parameter(Name="/demo/dev/queue_url")["Parameter"]["Value"]

    world.edit(
        "stacks/app/main.tf", 'stack       = "app"', 'stack       = "app"\n    team        = "web"'
    )
    second = world.commit_and_push("Tag the app's parameters")
    wait_for("app applied at the second commit", lambda: world.synced_at(second, "app"))
    assert {(r.stack, str(r.kind)) for r in world.runs(commit=second)} == {("app", "apply")}
    tags = world.aws("ssm").list_tags_for_resource(
        ResourceType="Parameter", ResourceId="/demo/dev/queue_url"
    )["TagList"]
    assert {"Key": "team", "Value": "web"} in tags
    assert world.views()["storage"].applied_commit == first  # not re-applied, still Synced
    assert str(world.views()["storage"].status) == "Synced"

    # The audit trail in Git, pushed to the remote.
    notes = wait_for(
        "the note of the second commit on the remote",
        lambda: _note(world, second),
    )
    line = json.loads(notes.splitlines()[0])
    assert (line["stack"], line["kind"], line["status"]) == ("app", "apply", "applied")
    ready, body = daemon.get("/readyz")
    assert ready == 200, body

    # `status` reads the records (no daemon needed).
    shown = world.cli("status", "--json")
    assert shown.returncode == 0, shown.stderr
    stacks = {s["name"]: s for s in json.loads(shown.stdout)["result"]["stacks"]}
    assert (stacks["app"]["status"], stacks["app"]["applied_commit"]) == ("Synced", second)
    assert (stacks["storage"]["status"], stacks["storage"]["applied_commit"]) == ("Synced", first)
    assert world.cli("status").stdout.splitlines()[0].split()[:3] == ["STACK", "STATUS", "APPLIED"]


def _note(world: World, sha: str) -> str | None:
    try:
        return git(world.remote, "notes", "--ref=infra-gitops", "show", sha)
    except Exception:
        return None


def _all_finished(runs: list, *, count: int) -> list:
    """The runs once there are `count` of them and none is still running."""
    done = [r for r in runs if str(r.status) != "running"]
    return runs if len(runs) >= count and len(done) == len(runs) else []


def test_a_change_made_by_hand_is_healed_at_the_next_drift_check(world: World) -> None:
    first = world.commit_and_push("Declare storage and app")
    world.start_daemon("--drift-interval", "2")
    wait_for("both stacks applied", lambda: world.synced_at(first, "storage", "app"))
    world.aws("s3").put_bucket_tagging(
        Bucket="demo-dev-artifacts", Tagging={"TagSet": [{"Key": "owner", "Value": "mallory"}]}
    )
    wait_for("the tags restored", lambda: world.bucket_tags().get("stack") == "storage")
    assert "owner" not in world.bucket_tags()
    drift = wait_for(
        "the drift run recorded",
        lambda: world.runs(stack="storage", kind="drift", status="drifted"),
    )
    assert drift[0].commit.sha == first
    assert drift[0].trigger == "daemon:drift"
    assert "aws_s3_bucket.artifacts" in {c.address for c in drift[0].drift}
    heal = wait_for(
        "the heal run recorded",
        lambda: world.runs(stack="storage", kind="heal", status="applied"),
    )
    assert heal[0].commit.sha == first
    wait_for("storage Synced again", lambda: world.synced_at(first, "storage"))


def test_a_bad_commit_is_recorded_as_failed_and_the_last_good_state_kept(world: World) -> None:
    first = world.commit_and_push("Declare storage and app")
    daemon = world.start_daemon()
    wait_for("both stacks applied", lambda: world.synced_at(first, "storage", "app"))

    world.edit("gitops.yaml", "self_heal: true", "self_heal: yes-please")
    bad = world.commit_and_push("Break the manifest")
    failed = wait_for(
        "the bad commit recorded for both stacks",
        lambda: _all_finished(world.runs(commit=bad), count=2),
    )
    assert {(r.stack, str(r.status)) for r in failed} == {("storage", "failed"), ("app", "failed")}
    assert "gitops.yaml" in (failed[0].error or "")
    views = world.views()
    assert views["storage"].applied_commit == first
    assert str(views["storage"].status) == "Failed"
    assert daemon.get("/healthz")[0] == 200

    world.edit("gitops.yaml", "self_heal: yes-please", "self_heal: true")
    world.edit("stacks/storage/main.tf", "bucket = ", "force_destroy = false\n  bucket = ")
    good = world.commit_and_push("Fix the manifest")
    wait_for("the fix applied", lambda: world.synced_at(good, "storage"))
