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


PRUNE_ALL = MANIFEST.replace(
    "self_heal: true, auto_apply: true}", "self_heal: true, auto_apply: true, prune: true}"
)
EMPTY = PRUNE_ALL[: PRUNE_ALL.index("stacks:")] + "stacks: []\n"
DENY_APP = """\
sync_windows:
  - kind: deny
    schedule: "* * * * *"
    duration: 2h
    stacks: [app]
"""


def _buckets(world: World) -> set[str]:
    return {b["Name"] for b in world.aws("s3").list_buckets()["Buckets"]}


def test_emptying_the_manifest_prunes_nothing_unless_allowed_and_a_pruned_stack_comes_back_new(
    world: World,
) -> None:
    (world.work / "gitops.yaml").write_text(PRUNE_ALL)
    first = world.commit_and_push("Declare storage and app, prune on")
    world.start_daemon()
    wait_for("both stacks applied", lambda: world.synced_at(first, "storage", "app"))

    # Every deployed stack would go: refused, nothing destroyed, each stack says why.
    (world.work / "gitops.yaml").write_text(EMPTY)
    emptied = world.commit_and_push("Empty the manifest")
    refused = wait_for(
        "the refused prune recorded for both stacks",
        lambda: (
            (r := world.runs(commit=emptied, kind="destroy"))
            and len(r) == 2
            and all(str(run.status) != "running" for run in r)
            and r
        ),
    )
    assert {(r.stack, str(r.status)) for r in refused} == {
        ("storage", "skipped"),
        ("app", "skipped"),
    }
    assert "would prune 2 of 2 deployed stacks (app, storage)" in (refused[0].error or "")
    views = wait_for(
        "both Orphaned",
        lambda: (v := world.views()) and all(str(v[s].status) == "Orphaned" for s in v) and v,
    )
    assert "prune.allow_empty" in views["storage"].message
    assert "demo-dev-artifacts" in _buckets(world)
    assert _parameters(world) == {"/demo/dev/queue_url", "/demo/dev/db_password"}
    status = world.cli("status")
    assert status.returncode == 0 and "prune refused" in status.stdout

    # Opted in: both destroyed (app first: it reads storage's outputs).
    (world.work / "gitops.yaml").write_text(
        EMPTY.replace("version: 1\n", "version: 1\nprune: {allow_empty: true}\n")
    )
    world.commit_and_push("Allow emptying the manifest")
    destroyed = wait_for(
        "both stacks destroyed",
        lambda: (r := world.runs(kind="destroy", status="applied")) and len(r) == 2 and r,
        timeout=120,
    )
    assert [r.stack for r in reversed(destroyed)] == ["app", "storage"]
    assert "demo-dev-artifacts" not in _buckets(world)
    assert _parameters(world) == set()
    wait_for("pruned stacks no longer listed", lambda: world.views() == {} or None)

    # Declared again: new stacks (OutOfSync, then applied), never Synced at the old commit.
    (world.work / "gitops.yaml").write_text(PRUNE_ALL)
    back = world.commit_and_push("Declare them again")
    wait_for("both applied again", lambda: world.synced_at(back, "storage", "app"), timeout=120)
    assert "demo-dev-artifacts" in _buckets(world)
    assert _parameters(world) == {"/demo/dev/queue_url", "/demo/dev/db_password"}
    (applied,) = world.runs(commit=back, stack="storage", kind="apply")
    assert applied.counts.create > 0


def test_a_deny_window_holds_a_prune_until_it_is_lifted(world: World) -> None:
    (world.work / "gitops.yaml").write_text(MANIFEST + "    policy: {prune: true}\n")
    first = world.commit_and_push("Declare storage and app, app pruned when removed")
    world.start_daemon()
    wait_for("both stacks applied", lambda: world.synced_at(first, "storage", "app"))

    (world.work / "gitops.yaml").write_text(MANIFEST.replace(APP_ENTRY, "") + DENY_APP)
    world.commit_and_push("Remove app during a freeze")
    view = wait_for(
        "app's prune held by the window",
        lambda: (v := world.views().get("app")) and "sync window" in v.message and v,
    )
    assert str(view.status) == "Orphaned"
    # Not by a person either: no override.
    by_hand = world.cli("prune", "app", "--confirm", "--repo", str(world.work))
    assert by_hand.returncode == 1 and "sync window" in by_hand.stderr
    assert world.runs(stack="app", kind="destroy") == []
    assert _parameters(world) == {"/demo/dev/queue_url", "/demo/dev/db_password"}

    (world.work / "gitops.yaml").write_text(MANIFEST.replace(APP_ENTRY, ""))
    world.commit_and_push("Lift the freeze")
    wait_for(
        "app destroyed once the window is gone",
        lambda: world.runs(stack="app", kind="destroy", status="applied"),
        timeout=120,
    )
    assert _parameters(world) == set()
    assert "demo-dev-artifacts" in _buckets(world)


def test_a_confirm_stack_is_destroyed_only_by_a_person_who_is_recorded(world: World) -> None:
    confirm_app = MANIFEST + "    policy: {prune: confirm}\n"
    (world.work / "gitops.yaml").write_text(confirm_app)
    first = world.commit_and_push("Declare storage and app, app protected")
    world.start_daemon()
    wait_for("both stacks applied", lambda: world.synced_at(first, "storage", "app"))

    (world.work / "gitops.yaml").write_text(MANIFEST.replace(APP_ENTRY, ""))
    world.commit_and_push("Remove app")
    view = wait_for(
        "app Orphaned, naming the command",
        lambda: (v := world.views().get("app")) and "--confirm" in v.message and v,
    )
    assert str(view.status) == "Orphaned"
    assert "infra-gitops prune app --confirm" in view.message
    assert world.runs(stack="app", kind="destroy") == []

    repo = ("--repo", str(world.work))
    unconfirmed = world.cli("prune", "app", *repo)
    assert unconfirmed.returncode == 1 and "--confirm" in unconfirmed.stderr
    declared = world.cli("prune", "storage", "--confirm", *repo)
    assert declared.returncode == 1 and "still declared" in declared.stderr
    assert world.runs(kind="destroy") == []
    assert _parameters(world) == {"/demo/dev/queue_url", "/demo/dev/db_password"}

    world.env["INFRA_GITOPS_ACTOR"] = "carol"
    done = world.cli("prune", "app", "--confirm", *repo)
    assert done.returncode == 0, done.stderr
    (run,) = world.runs(stack="app", kind="destroy")
    assert (str(run.status), run.actor, run.commit.sha) == ("applied", "carol", first)
    assert _parameters(world) == set()
    assert "demo-dev-artifacts" in _buckets(world)
    history = world.cli("history", "--stack", "app")
    assert "destroy (by carol)" in history.stdout
    assert "app" not in world.views()


def test_a_renamed_stack_is_reported_as_a_rename_and_continues_only_with_its_state(
    world: World,
) -> None:
    (world.work / "gitops.yaml").write_text(PRUNE_ALL)
    first = world.commit_and_push("Declare storage and app, prune on")
    world.start_daemon()
    wait_for("both stacks applied", lambda: world.synced_at(first, "storage", "app"))

    renamed = PRUNE_ALL.replace("  - name: app\n", "  - name: application\n")
    (world.work / "gitops.yaml").write_text(renamed)
    world.commit_and_push("Rename app to application")
    views = wait_for(
        "the rename reported",
        lambda: (v := world.views()) and "application" in v and "app" in v and v,
    )
    assert (str(views["app"].status), views["app"].message) == ("Renamed", "renamed to application")
    held = wait_for(
        "application held: its state would start empty",
        lambda: (v := world.views().get("application")) and "renamed from app" in v.message and v,
    )
    assert str(held.status) == "OutOfSync"
    assert "backend: {key: app/terraform.tfstate}" in held.message
    assert world.runs(kind="destroy") == []
    assert world.runs(stack="application", kind="apply") == []
    assert _parameters(world) == {"/demo/dev/queue_url", "/demo/dev/db_password"}

    # Keeping app's state: the same infrastructure under the new name, nothing to change.
    keep = renamed.replace(
        "    path: stacks/app\n",
        "    path: stacks/app\n    backend: {key: app/terraform.tfstate}\n",
    )
    (world.work / "gitops.yaml").write_text(keep)
    kept = world.commit_and_push("application keeps app's state")
    wait_for("application Synced", lambda: world.synced_at(kept, "application"), timeout=120)
    (applied,) = world.runs(commit=kept, stack="application", kind="apply")
    assert str(applied.status) == "no-changes"
    assert str(world.views()["app"].status) == "Renamed"
    assert world.runs(kind="destroy") == []
    assert _parameters(world) == {"/demo/dev/queue_url", "/demo/dev/db_password"}
