"""The daemon when things go wrong: SIGTERM mid-apply, kill -9 mid-apply, the remote
gone, a second daemon on the same state dir."""

from __future__ import annotations

import json
import signal
import time

import pytest
from daemon_helpers import MANIFEST, World, git, wait_for

from infra_gitops.models import Run

pytestmark = pytest.mark.e2e


def _running_apply(world: World) -> Run:
    return wait_for(
        "an apply running",
        lambda: next((r for r in world.runs(status="running") if str(r.kind) == "apply"), None),
    )


def _storage_only(world: World) -> None:
    manifest = MANIFEST[: MANIFEST.index("  - name: app")]
    (world.work / "gitops.yaml").write_text(manifest)


def test_sigterm_lets_the_running_apply_finish_and_starts_nothing_new(world: World) -> None:
    first = world.commit_and_push("Declare storage and app")
    daemon = world.start_daemon("--grace-period", "120")
    running = _running_apply(world)
    assert running.stack == "storage"
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(timeout=120) == 0, daemon.log
    (storage,) = [r for r in world.runs(stack="storage") if r.id == running.id]
    assert (str(storage.status), storage.commit.sha) == ("applied", first)
    assert world.runs(stack="app") == []  # app came after the stop: never started
    assert world.runs(status="running") == []
    assert "stopped" in daemon.log


def test_kill_9_mid_apply_then_restart_marks_it_interrupted_and_applies_again(
    world: World,
) -> None:
    _storage_only(world)
    first = world.commit_and_push("Declare storage")
    daemon = world.start_daemon()
    running = _running_apply(world)
    daemon.signal(signal.SIGKILL)  # the daemon only: its Terraform child finishes alone
    daemon.wait(timeout=30)
    _wait_until_state_unlocked(world)

    world.start_daemon()
    wait_for("storage applied again after the restart", lambda: world.synced_at(first, "storage"))
    runs = {r.id: r for r in world.runs(stack="storage")}
    assert str(runs[running.id].status) == "interrupted"
    assert "may be partly changed" in (runs[running.id].error or "")
    again = [r for r in runs.values() if r.id != running.id and str(r.kind) == "apply"]
    assert again and str(again[0].status) in ("applied", "no-changes")


def _wait_until_state_unlocked(world: World) -> None:
    s3 = world.aws("s3")

    def unlocked() -> bool:
        listing = s3.list_objects_v2(Bucket=world.cloud.state_bucket).get("Contents", [])
        return not any(o["Key"].endswith(".tflock") for o in listing)

    wait_for("the Terraform state lock released", unlocked)


def test_remote_unavailable_readiness_goes_stale_and_the_daemon_keeps_working(
    world: World,
) -> None:
    (world.work / "gitops.yaml").write_text("version: 1\nstacks: []\n")
    first = world.commit_and_push("An empty manifest")
    daemon = world.start_daemon("--stale-after", "2")
    wait_for("ready", lambda: daemon.get("/readyz")[0] == 200)

    hidden = world.remote.with_name("remote-away.git")
    world.remote.rename(hidden)
    status, body = wait_for(
        "readiness to report the stale remote",
        lambda: (r := daemon.get("/readyz"))[0] == 503 and r,
    )
    text = str(body)
    assert "consecutive_fetch_failures" in text and "remote.git" in text, body
    assert daemon.get("/healthz")[0] == 200  # still serving

    git(world.work, "remote", "set-url", "origin", str(hidden))
    (world.work / "README.md").write_text("the remote came back\n")
    second = world.commit_and_push("Commit while the daemon could not fetch")
    assert second != first
    hidden.rename(world.remote)
    # No webhook: the backoff between polls is short at this poll interval.
    wait_for(
        "ready again at the new commit",
        lambda: (r := daemon.get("/readyz"))[0] == 200 and r[1].get("head") == second,
        timeout=60,
    )


def test_a_second_daemon_on_the_same_state_dir_refuses_to_start(world: World) -> None:
    (world.work / "gitops.yaml").write_text("version: 1\nstacks: []\n")
    world.commit_and_push("An empty manifest")
    first = world.start_daemon()
    wait_for("the first daemon ready", lambda: first.get("/readyz")[0] == 200)
    second = world.start_daemon()
    started = time.monotonic()
    assert second.wait(timeout=30) == 1
    assert time.monotonic() - started < 30
    assert "another infra-gitops daemon is already running on the state dir" in second.log
    assert f"pid {first.proc.pid}" in second.log
    assert first.proc.poll() is None


def test_a_terraform_state_lock_left_behind_is_reported_with_its_id_and_not_forced(
    world: World,
) -> None:
    _storage_only(world)
    lock_id = "5b1c7f5e-0000-4000-8000-da3000000001"
    key = "storage/terraform.tfstate.tflock"
    info = {
        "ID": lock_id,
        "Operation": "OperationTypeApply",
        "Who": "killed@elsewhere",
        "Version": "1.15.5",
        "Created": "2026-11-23T10:00:00Z",
        "Info": "",
        "Path": key,
    }
    s3 = world.aws("s3")
    s3.put_object(Bucket=world.cloud.state_bucket, Key=key, Body=json.dumps(info).encode())
    first = world.commit_and_push("Declare storage")
    world.start_daemon()
    (failed,) = wait_for("the failed apply", lambda: world.runs(commit=first, status="failed"))
    # The hint is the command that releases it, runnable as printed.
    assert f"`infra-gitops unlock --stack storage {lock_id}`" in (failed.error or "")
    view = world.views()["storage"]
    assert str(view.status) == "Failed" and lock_id in view.message
    assert s3.get_object(Bucket=world.cloud.state_bucket, Key=key)["Body"].read()  # kept

    s3.delete_object(Bucket=world.cloud.state_bucket, Key=key)  # the operator's unlock
    world.edit("stacks/storage/main.tf", "bucket = ", "force_destroy = false\n  bucket = ")
    second = world.commit_and_push("Next commit")
    wait_for("applied once unlocked", lambda: world.synced_at(second, "storage"))


def test_run_records_deleted_under_the_daemon_make_it_unready_and_apply_nothing(
    world: World,
) -> None:
    _storage_only(world)
    first = world.commit_and_push("Declare storage")
    daemon = world.start_daemon()
    wait_for("storage applied", lambda: world.synced_at(first, "storage"))
    wait_for("ready", lambda: daemon.get("/readyz")[0] == 200)

    for name in ("runs.db", "runs.db-wal", "runs.db-shm"):
        (world.state_dir / name).unlink(missing_ok=True)
    world.edit(
        "stacks/storage/main.tf", 'stack       = "storage"', 'stack = "storage"\n team = "data"'
    )
    world.commit_and_push("Tag the bucket: must not be applied without the records")

    code, body = wait_for(
        "/readyz failing", lambda: r if (r := daemon.get("/readyz"))[0] == 503 else None
    )
    assert body["run_store_ok"] is False
    assert "runs.db" in body["run_store_error"]
    time.sleep(5)  # several polls: the new commit is seen, and still nothing is done
    assert "team" not in world.bucket_tags()
    assert not (world.state_dir / "runs.db").exists()  # no new, empty history
    assert daemon.get("/readyz")[0] == 503
    code, body = daemon.get("/api/stacks")  # says why, not "internal error"
    assert code == 503 and "runs.db" in body["error"]
    assert daemon.proc.poll() is None
