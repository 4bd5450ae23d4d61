"""Two real daemon replicas on one PostgreSQL database, on the sandbox with the
embedded Terraform: each commit applied once, drift checks shared and never doubled, a
replica killed mid-apply, the database restarted under them."""

from __future__ import annotations

import signal
import time
from urllib.parse import urlsplit

import pytest
from daemon_helpers import MANIFEST, World, wait_for
from postgres_server import PostgresServer
from replica_helpers import Replicas, metrics_text, no_overlaps, post_push, state_unlocked

pytestmark = pytest.mark.e2e

STACKS = ("storage", "app")


def _tag_app(world: World, team: str) -> None:
    world.edit(
        "stacks/app/main.tf", 'stack       = "app"', f'stack       = "app"\n    team = "{team}"'
    )


def _tag_storage(world: World, team: str) -> None:
    world.edit(
        "stacks/storage/main.tf",
        'stack       = "storage"',
        f'stack       = "storage"\n    team = "{team}"',
    )


def _one_apply_per_stack_and_commit(replicas: Replicas) -> None:
    applies = [r for r in replicas.runs(kind="apply") if r.status != "interrupted"]
    seen = [(r.stack, r.commit_sha) for r in applies]
    assert len(seen) == len(set(seen)), applies
    assert no_overlaps(replicas.runs(kind="apply")) == []


def test_a_pushed_commit_is_applied_once_and_a_webhook_to_a_follower_triggers_it(
    world: World, database_url: str
) -> None:
    replicas = Replicas(world, database_url)
    first = world.commit_and_push("Declare storage and app")
    # Polling so rare that after the start-up pass only a webhook can start one.
    a = replicas.start("a", "--poll-interval", "3600")
    b = replicas.start("b", "--poll-interval", "3600")
    wait_for("the start-up pass applied", lambda: replicas.applied_once(first, *STACKS), 180)
    leader = replicas.leader(a, b)
    follower = b if leader is a else a

    _tag_app(world, "web")
    second = world.commit_and_push("Tag the app's parameters")
    assert post_push(follower, second) == 202
    wait_for("the webhook's commit applied", lambda: replicas.applied_once(second, "app"), 120)

    assert world.aws("s3").head_bucket(Bucket="demo-dev-artifacts")
    _one_apply_per_stack_and_commit(replicas)
    assert replicas.runs(commit_sha=second, stack="storage", kind="apply") == []  # untouched
    owners = {r.owner_pid for r in replicas.runs(kind="apply")}
    assert owners <= {a.proc.pid, b.proc.pid}
    code, stacks = follower.get("/api/stacks")  # from the shared records
    assert code == 200
    assert {s["name"]: (s["status"], s["applied_commit"]) for s in stacks} == {
        "storage": ("Synced", first),
        "app": ("Synced", second),
    }
    assert "infra_gitops_replica_leader 1.0" in metrics_text(leader)
    assert "infra_gitops_replica_leader 0.0" in metrics_text(follower)
    status = world.cli("status")  # the database from the environment
    assert status.returncode == 0, status.stderr
    assert "2 alive" in status.stdout
    (leading_line,) = [line for line in status.stdout.splitlines() if line.endswith("leader")]
    assert f"pid {leader.proc.pid}," in leading_line
    password = urlsplit(database_url).password
    assert password and all(password not in d.log for d in (a, b))
    assert password not in status.stdout + status.stderr
    for daemon in (a, b):
        code, body = daemon.get("/readyz")
        assert code == 200, body
        assert ":***@" in body["database"]

    leader.signal(signal.SIGTERM)  # drains, and lets go of the leader lock
    assert leader.wait(timeout=60) == 0, leader.log
    assert replicas.leader(follower) is follower


def test_drift_checks_are_shared_and_never_doubled(world: World, database_url: str) -> None:
    replicas = Replicas(world, database_url)
    first = world.commit_and_push("Declare storage and app")
    interval = 3.0
    a = replicas.start("a", "--drift-interval", str(interval), "--parallelism", "1")
    b = replicas.start("b", "--drift-interval", str(interval), "--parallelism", "1")
    wait_for("applied", lambda: replicas.applied_once(first, *STACKS), 180)
    started = time.monotonic()
    time.sleep(15)
    elapsed = time.monotonic() - started
    drift = [r for r in replicas.runs(kind="drift") if r.finished is not None]

    assert no_overlaps(drift) == []
    for stack in STACKS:
        count = sum(1 for r in drift if r.stack == stack)
        # Each interval's check once (jitter and a busy machine may make it later).
        assert 2 <= count <= elapsed / interval + 2, (stack, count)
    assert {r.owner_pid for r in drift} == {a.proc.pid, b.proc.pid}


def test_sigkill_of_the_replica_applying_interrupts_its_run_and_the_other_carries_on(
    world: World, database_url: str
) -> None:
    (world.work / "gitops.yaml").write_text(MANIFEST[: MANIFEST.index("  - name: app")])
    replicas = Replicas(world, database_url)
    first = world.commit_and_push("Declare storage")
    a = replicas.start("a", "--parallelism", "1")
    b = replicas.start("b", "--parallelism", "1")
    running = wait_for(
        "an apply running", lambda: next(iter(replicas.runs(kind="apply", status="running")), None)
    )
    victim, survivor = (a, b) if running.owner_pid == a.proc.pid else (b, a)
    victim.signal(signal.SIGKILL)  # the daemon only: its Terraform child finishes alone
    victim.wait(timeout=30)

    def interrupted() -> bool:
        (run,) = [r for r in replicas.runs(kind="apply") if r.id == running.id]
        return run.status == "interrupted"

    wait_for("the run marked interrupted", interrupted, 30)
    wait_for(
        "its job interrupted", lambda: any(j["state"] == "interrupted" for j in replicas.jobs()), 30
    )
    assert replicas.leader(survivor) is survivor
    wait_for("the Terraform state lock released (never forced)", lambda: state_unlocked(world), 120)

    _tag_storage(world, "data")
    second = world.commit_and_push("Tag the bucket")
    wait_for("the next commit applied", lambda: replicas.applied_once(second, "storage"), 180)
    tags = world.bucket_tags()
    assert tags.get("team") == "data"
    assert no_overlaps(replicas.runs(kind="apply")) == []
    applied = [r for r in replicas.runs(commit_sha=second, kind="apply")]
    assert [r.status for r in applied] == ["applied"] and applied[0].owner_pid == survivor.proc.pid
    del first


def test_the_database_restarted_under_two_replicas(
    world: World, database_url: str, postgres_server: PostgresServer
) -> None:
    replicas = Replicas(world, database_url)
    first = world.commit_and_push("Declare storage and app")
    a = replicas.start("a")
    b = replicas.start("b")
    wait_for("applied", lambda: replicas.applied_once(first, *STACKS), 180)
    wait_for("both ready", lambda: all(d.get("/readyz")[0] == 200 for d in (a, b)), 60)

    postgres_server.stop()
    try:
        wait_for("both unready", lambda: all(d.get("/readyz")[0] == 503 for d in (a, b)), 60)
        assert all(d.get("/healthz")[0] == 200 for d in (a, b))  # alive, serving
    finally:
        postgres_server.start()
    wait_for("both ready again", lambda: all(d.get("/readyz")[0] == 200 for d in (a, b)), 90)

    _tag_app(world, "after-restart")
    second = world.commit_and_push("A commit after the restart")
    wait_for("applied after the restart", lambda: replicas.applied_once(second, "app"), 120)
    _one_apply_per_stack_and_commit(replicas)
    assert a.proc.poll() is None and b.proc.poll() is None
