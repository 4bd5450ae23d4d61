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
