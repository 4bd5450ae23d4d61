"""The authenticated API of a real `infra-gitops daemon` process on the local cloud: a
token made with the CLI, stacks seen by role, and sync, refresh and heal asked through
the API, carried out on the real stacks (boto3 sees them) and recorded with who asked."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from daemon_helpers import MANIFEST, World, git, wait_for
from web_helpers import PASSWORD

from infra_gitops.auth.rbac import parse_grants
from infra_gitops.auth.store import AuthStore

pytestmark = pytest.mark.e2e

BUCKET = "demo-dev-artifacts"
OWNER_TAG = 'stack       = "storage"\n    owner       = "platform"'
# Nothing happens by itself: no auto-apply, no self-heal, no scheduled drift check.
HANDS_OFF = MANIFEST.replace(
    "policy: {drift_interval: 5m, self_heal: true, auto_apply: true}",
    "policy: {drift_interval: 1h, self_heal: false, auto_apply: false}",
)


def bearers(world: World, **roles: str) -> dict[str, dict[str, str]]:
    """An account per name with its role (in the daemon's state dir), and its API token
    made with the CLI, as request headers by name."""
    with AuthStore.open(world.state_dir) as store:
        for name, role in roles.items():
            store.accounts.add(name, PASSWORD, parse_grants([role]))
    headers = {}
    for name in roles:
        made = world.cli("tokens", "create", "--account", name, "--expires", "1h")
        assert made.returncode == 0, made.stderr
        headers[name] = {"Authorization": f"Bearer {made.stdout.strip()}"}
    return headers


def runs_by(world: World, trigger: str) -> list[Any]:
    """The finished runs of storage with this trigger."""
    runs = [r for r in world.runs(stack="storage") if r.trigger == trigger and r.actor == "ada"]
    return [] if any(str(r.status) == "running" for r in runs) else runs


def rollback_runs(world: World) -> list[Any]:
    """storage's rollback runs, once finished."""
    runs = [r for r in world.runs(stack="storage") if r.trigger == "rollback"]
    return [] if any(str(r.status) == "running" for r in runs) else runs


def test_a_token_from_the_cli_syncs_refreshes_and_heals_and_the_runs_name_who_asked(
    world: World,
) -> None:
    assert HANDS_OFF != MANIFEST
    (world.work / "gitops.yaml").write_text(HANDS_OFF)
    head = world.commit_and_push("Declare the stacks, hands off")
    ada, rita = bearers(world, ada="admin", rita="readonly").values()
    daemon = world.start_daemon("--auth")
    api = daemon.url + "/api/stacks"

    assert requests.get(api, timeout=10).status_code == 401
    views = wait_for(
        "the daemon to read the branch",
        lambda: (
            (r := requests.get(api, headers=rita, timeout=10).json())
            and r[0]["desired_commit"] == head
            and r
        ),
    )
    assert {v["name"]: v["status"] for v in views} == {"storage": "OutOfSync", "app": "OutOfSync"}
    assert requests.post(f"{api}/storage/sync", headers=rita, timeout=10).status_code == 403

    synced = requests.post(f"{api}/storage/sync", headers=ada, timeout=10)
    assert synced.status_code == 202, synced.text
    assert synced.json() == {
        "action": "sync",
        "stack": "storage",
        "commit": head,
        "trigger": "api:sync",
        "actor": "ada",
        "done": False,
    }
    wait_for("the asked sync", lambda: runs_by(world, "api:sync"), timeout=120)
    assert [str(r.status) for r in runs_by(world, "api:sync")] == ["applied"]
    assert world.bucket_tags()["environment"] == "dev"
    assert str(world.views()["storage"].status) == "Synced"  # not OutOfSync any more

    s3 = world.aws("s3")
    by_hand = {"TagSet": [{"Key": "environment", "Value": "by-hand"}]}
    s3.put_bucket_tagging(Bucket=BUCKET, Tagging=by_hand)
    assert requests.post(f"{api}/storage/refresh", headers=ada, timeout=10).status_code == 202
    wait_for("the asked refresh", lambda: runs_by(world, "api:refresh"), timeout=120)
    assert [str(r.status) for r in runs_by(world, "api:refresh")] == ["drifted"]
    assert world.bucket_tags() == {"environment": "by-hand"}  # a refresh heals nothing
    statuses = {v["name"]: v["status"] for v in requests.get(api, headers=ada, timeout=10).json()}
    assert statuses["storage"] == "Drifted"

    assert requests.post(f"{api}/storage/heal", headers=ada, timeout=10).status_code == 202
    wait_for("the heal", lambda: world.bucket_tags().get("environment") == "dev", timeout=120)
    wait_for("the heal's record", lambda: runs_by(world, "api:heal"), timeout=60)
    never_applied = requests.post(f"{api}/app/heal", headers=ada, timeout=10)
    assert never_applied.status_code == 409
    assert "never applied" in never_applied.json()["error"]
    assert "Bearer" not in daemon.log and "igt_" not in daemon.log


def test_an_admin_pauses_resumes_and_rolls_back_through_the_api(world: World) -> None:
    first = world.commit_and_push("Declare storage and app")  # auto-apply on
    ada, olga = bearers(world, ada="admin", olga="operator").values()
    daemon = world.start_daemon("--auth")
    api = daemon.url + "/api/stacks"
    wait_for("both stacks applied", lambda: world.synced_at(first, "storage", "app"))

    assert requests.post(f"{api}/storage/pause", headers=olga, timeout=10).status_code == 403
    paused = requests.post(f"{api}/storage/pause", headers=ada, timeout=10)
    assert paused.status_code == 200 and paused.json()["done"] is True
    world.edit("stacks/storage/main.tf", 'stack       = "storage"', OWNER_TAG)
    second = world.commit_and_push("Tag storage with its owner")
    wait_for("the new commit seen", lambda: world.views()["storage"].desired_commit == second)
    view = world.views()["storage"]
    assert (str(view.status), view.auto_apply_paused) == ("OutOfSync", True)
    assert "paused by ada until resumed" in view.message
    assert "owner" not in world.bucket_tags()  # held, although the commit touches it
    assert requests.post(f"{api}/storage/pause", headers=ada, timeout=10).status_code == 409

    assert requests.post(f"{api}/storage/resume", headers=ada, timeout=10).status_code == 200
    wait_for("the held commit applied", lambda: world.synced_at(second, "storage"), timeout=120)
    assert world.bucket_tags()["owner"] == "platform"

    to_first = {"commit": first[:12]}
    rollback = requests.post(f"{api}/storage/rollback", json=to_first, headers=ada, timeout=10)
    assert rollback.status_code == 202, rollback.text
    assert rollback.json()["commit"] == first
    (run,) = wait_for("the rollback's run", lambda: rollback_runs(world), timeout=120)
    assert (str(run.status), run.commit.sha, run.actor) == ("applied", first, "ada")
    assert "owner" not in world.bucket_tags()
    message = git(world.remote, "log", "-1", "--format=%B", "main")
    assert f"Roll back stack storage to {first[:10]}" in message
    assert "asked by ada through the API" in message
    nowhere = {"commit": "0" * 40}

    def unknown_commit() -> dict[str, Any] | None:
        # 409 while the rollback before is still finishing (its notes, the records).
        answer = requests.post(f"{api}/storage/rollback", json=nowhere, headers=ada, timeout=10)
        assert answer.status_code in (404, 409), answer.text
        return answer.json() if answer.status_code == 404 else None

    assert "no commit" in wait_for("an unknown commit refused", unknown_commit)["error"]


def test_no_auth_is_refused_off_loopback(world: World) -> None:
    result = world.cli("daemon", "--repo", str(world.remote), "--no-auth", "--listen", "0.0.0.0:0")
    assert result.returncode == 1
    assert "--no-auth with --listen 0.0.0.0:0" in result.stderr
    assert "loopback address only" in result.stderr
