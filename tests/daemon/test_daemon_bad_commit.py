"""A commit the daemon cannot use is recorded once with its reason, shown by `status`
even when it is the very first commit (no stack known yet), and logged once, without a
traceback at every poll; the next good commit is reconciled as usual."""

from __future__ import annotations

import json
import time

import pytest
from daemon_helpers import MANIFEST, World, wait_for

from infra_gitops.runs import RunStore

pytestmark = pytest.mark.e2e


def _status(world: World) -> dict:
    done = world.cli("status", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["result"]


def test_a_bad_first_commit_is_recorded_once_and_shown_until_a_good_one(world: World) -> None:
    (world.work / "gitops.yaml").write_text(MANIFEST.replace("stacks:\n", "stacks:\n  - [\n", 1))
    bad = world.commit_and_push("A manifest that is not YAML")
    daemon = world.start_daemon()

    shown = wait_for("the bad commit in status", lambda: _status(world)["bad_commit"])
    assert shown["sha"] == bad
    assert f"commit {bad[:10]} is not applied: its manifest is invalid" in shown["error"]
    assert "gitops.yaml" in shown["error"]
    text = world.cli("status").stdout
    assert "no stack applied yet" in text and f"commit {bad[:10]} is not applied" in text

    time.sleep(3)  # a few polls
    assert world.runs() == []
    assert daemon.log.count(f"commit {bad[:10]} is not applied") == 1
    assert "Traceback" not in daemon.log
    with RunStore.open(world.state_dir) as store:
        assert store.latest_bad_commit() is not None

    (world.work / "gitops.yaml").write_text(MANIFEST)
    good = world.commit_and_push("Fix the manifest")
    wait_for("the fix applied", lambda: world.synced_at(good, "storage", "app"), timeout=120)
    assert _status(world)["bad_commit"] is None


def _alias_bomb() -> str:
    """ "Billion laughs": 9 levels, each repeating the one above 9 times (9^9 strings)."""
    lines = ["version: 1", "l0: &l0 [" + ", ".join(['"lol"'] * 9) + "]"]
    lines += [f"l{n}: &l{n} [" + ", ".join([f"*l{n - 1}"] * 9) + "]" for n in range(1, 9)]
    return "\n".join([*lines, "stacks: []"]) + "\n"


def _bad_commit_runs(world: World, sha: str) -> list[str]:
    return sorted(f"{r.stack}:{r.kind}:{r.status}" for r in world.runs(commit=sha))


def test_an_alias_bomb_and_an_escaping_symlink_are_bad_commits_recorded_once(
    world: World,
) -> None:
    (world.work / "gitops.yaml").write_text(MANIFEST)
    good = world.commit_and_push("Two stacks")
    daemon = world.start_daemon()
    wait_for("the first commit applied", lambda: world.synced_at(good, "storage", "app"), 120)
    tags = world.bucket_tags()

    (world.work / "gitops.yaml").write_text(_alias_bomb())
    bomb = world.commit_and_push("A billion laughs")
    shown = wait_for(
        "the bomb in status", lambda: (_status(world)["bad_commit"] or {}).get("sha") == bomb
    )
    assert shown
    assert "aliases expand past" in _status(world)["bad_commit"]["error"]
    once = _bad_commit_runs(world, bomb)
    assert once == ["app:plan:failed", "storage:plan:failed"]
    time.sleep(3)  # a few polls: nothing recorded again, nothing pruned
    assert _bad_commit_runs(world, bomb) == once
    assert world.runs(kind="destroy") == []

    (world.work / "gitops.yaml").write_text(MANIFEST)
    (world.work / "stacks/storage/leak.tf").symlink_to("/etc/hostname")
    leak = world.commit_and_push("A stack file that points outside the repository")
    wait_for(
        "the symlink in status", lambda: (_status(world)["bad_commit"] or {}).get("sha") == leak
    )
    assert "leak.tf" in _status(world)["bad_commit"]["error"]
    time.sleep(3)
    assert _bad_commit_runs(world, leak) == ["app:plan:failed", "storage:plan:failed"]
    assert world.runs(kind="apply", commit=leak) == []

    views = world.views()
    assert {views[s].applied_commit for s in ("storage", "app")} == {good}
    assert world.bucket_tags() == tags
    assert "Traceback" not in daemon.log
