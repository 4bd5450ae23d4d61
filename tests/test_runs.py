from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra_gitops.errors import RunStoreError
from infra_gitops.models import (
    SENSITIVE_MARKER,
    UNKNOWN_MARKER,
    Action,
    ChangeCounts,
    Commit,
    OutputChange,
    ResourceChange,
    Run,
    RunKind,
    RunStatus,
)
from infra_gitops.postgres import DATABASE_URL_ENV, DatabaseUrl
from infra_gitops.redaction import Scrubber
from infra_gitops.runs import LOG_ARTIFACT, MIGRATIONS, PLAN_ARTIFACT, SCHEMA_VERSION, RunStore

COMMIT = Commit(
    sha="3f9a1c0d" + "0" * 32,
    author="Ada Lovelace",
    email="ada@example.com",
    date="2026-11-23T18:15:00+01:00",
    message="Tag the buckets\n\nBecause billing asked.",
)
OTHER_COMMIT = Commit(
    sha="b" * 40,
    author="Grace",
    email="g@example.com",
    date="2026-11-24T09:00:00+00:00",
    message="Later",
    dirty=True,
)
BUCKET_TAGGED = ResourceChange(
    address="aws_s3_bucket.logs",
    type="aws_s3_bucket",
    name="logs",
    action=Action.UPDATE,
    changed_paths=("tags.env",),
    before={"tags": {"env": "dev"}},
    after={"tags": {"env": "prod"}},
)
BUCKET_NEW = ResourceChange(
    address="aws_s3_bucket.data",
    type="aws_s3_bucket",
    name="data",
    action=Action.CREATE,
    after={"bucket": "data"},
)

# Run in child processes; they import the package from this checkout.
START_AND_HANG = """
import sys, time
from pathlib import Path
from typing import Any
from infra_gitops.models import Commit, RunKind
from infra_gitops.postgres import url_from
from infra_gitops.runs import RunStore
commit = Commit("c" * 40, "Ada", "ada@example.com", "2026-11-23T17:00:00+00:00", "msg")
with RunStore.open(Path(sys.argv[1]), database_url=url_from(None)) as store:
    run = store.start("app", RunKind.APPLY, "cli", commit, "terraform")
    print(run.id, flush=True)
    time.sleep(120)
"""

WRITE_MANY = """
import sys
from pathlib import Path
from typing import Any
from infra_gitops.models import Action, Commit, ResourceChange, RunKind, RunStatus
from infra_gitops.postgres import url_from
from infra_gitops.runs import RunStore
commit = Commit("d" * 40, "Ada", "ada@example.com", "2026-11-23T17:00:00+00:00", "msg")
changes = [
    ResourceChange(f"x.r{i}", "x", f"r{i}", Action.CREATE, after={"n": i}) for i in range(50)
]
with RunStore.open(Path(sys.argv[1]), database_url=url_from(None)) as store:
    for _ in range(int(sys.argv[2])):
        run = store.start("app", RunKind.PLAN, "daemon", commit, "terraform")
        store.finish(run.id, RunStatus.CHANGES, changes=changes, engine_version="1.15.5")
"""

ATTACH_MANY = """
import sys
from pathlib import Path
from typing import Any
from infra_gitops.postgres import url_from
from infra_gitops.runs import RunStore
with RunStore.open(Path(sys.argv[1]), database_url=url_from(None)) as store:
    for i in range(int(sys.argv[3])):
        store.attach(sys.argv[2], "log.txt", ("A" if i % 2 else "B") * 2_000_000)
"""


SQLITE_ONLY = pytest.mark.parametrize("records_url", ["sqlite"], indirect=True)
"""For what only the embedded back end has: the file, WAL, pids of this host."""


@pytest.fixture
def store(tmp_path: Path, records_url: DatabaseUrl | None) -> Iterator[RunStore]:
    with RunStore.open(tmp_path / "state", database_url=records_url) as opened:
        yield opened


def where(store: RunStore) -> str:
    """The records as messages name them."""
    return store.database_url.display if store.database_url else str(store.db_path)


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def spawn(
    procs: list[subprocess.Popen[str]],
    script: str,
    *args: str,
    database_url: DatabaseUrl | None = None,
) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != DATABASE_URL_ENV}
    if database_url is not None:
        env[DATABASE_URL_ENV] = database_url.dsn
    proc = subprocess.Popen(
        [sys.executable, "-c", script, *args], stdout=subprocess.PIPE, text=True, env=env
    )
    procs.append(proc)
    return proc


# ---------------------------------------------------------------- recording


def test_a_run_is_recorded_when_it_starts_and_when_it_ends(store: RunStore) -> None:
    started = store.start("network", RunKind.APPLY, "cli", COMMIT, "terraform")
    assert started.status is RunStatus.RUNNING
    assert started.finished_at is None
    assert store.get(started.id) == started

    finished = store.finish(
        started.id,
        RunStatus.APPLIED,
        changes=(BUCKET_TAGGED, BUCKET_NEW),
        engine_version="1.15.5",
    )

    again = store.get(started.id)
    assert again == finished
    assert again.status is RunStatus.APPLIED
    assert again.stack == "network" and again.kind is RunKind.APPLY and again.trigger == "cli"
    assert again.commit == COMMIT
    assert again.engine == "terraform" and again.engine_version == "1.15.5"
    assert again.changes == (BUCKET_TAGGED, BUCKET_NEW)
    assert again.counts == ChangeCounts(create=1, update=1)
    assert again.finished_at is not None and again.finished_at >= again.started_at
    assert again.duration_s is not None and again.duration_s >= 0
    assert again.started_at.endswith("+00:00")
    assert again.error is None


def test_drift_and_explicit_counts_are_kept(store: RunStore) -> None:
    run = store.start("network", RunKind.DRIFT, "daemon", OTHER_COMMIT, "terraform")
    store.finish(run.id, RunStatus.DRIFTED, counts=ChangeCounts(delete=2), drift=(BUCKET_TAGGED,))
    recorded = store.get(run.id)
    assert recorded.drift == (BUCKET_TAGGED,)
    assert recorded.changes == ()
    assert recorded.counts == ChangeCounts(delete=2)
    assert recorded.commit.dirty is True


def test_plan_kinds_and_output_changes_are_kept(store: RunStore) -> None:
    moved = ResourceChange(
        "aws_s3_bucket.logs",
        "aws_s3_bucket",
        "logs",
        Action.NOOP,
        after={"bucket": "logs", "arn": UNKNOWN_MARKER},
        unknown_paths=("arn",),
        previous_address="aws_s3_bucket.old",
        importing="logs",
    )
    forgotten = ResourceChange("aws_sqs_queue.q", "aws_sqs_queue", "q", Action.FORGET)
    output = OutputChange("token", Action.CREATE, None, SENSITIVE_MARKER, sensitive=True)
    run = store.start("network", RunKind.APPLY, "cli", COMMIT, "terraform")
    store.finish(run.id, RunStatus.APPLIED, changes=(moved, forgotten), output_changes=(output,))
    recorded = store.get(run.id)
    assert recorded.changes == (moved, forgotten)
    assert recorded.output_changes == (output,)
    assert recorded.counts == ChangeCounts(imported=1, moved=1, forget=1, outputs=1)


def test_a_store_of_the_previous_schema_is_migrated(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    conn = sqlite3.connect(state / "runs.db")
    for step in MIGRATIONS[:2]:
        step(conn)
    conn.execute("PRAGMA user_version = 2")
    conn.execute(
        """INSERT INTO runs (id, stack, kind, trigger, status, engine, commit_sha,
            commit_author, commit_email, commit_date, commit_message, commit_dirty,
            started_at, finished_at, count_update, owner_pid, owner_host)
        VALUES ('20261101T000000Z-old000', 'network', 'apply', 'cli', 'applied', 'terraform',
            ?, 'a', 'a@example.com', '2026-11-01T00:00:00+00:00', 'm', 0,
            '2026-11-01T00:00:00+00:00', '2026-11-01T00:00:01+00:00', 3, 1, 'h')""",
        (COMMIT.sha,),
    )
    conn.commit()
    conn.close()
    with RunStore.open(state) as store:
        old = store.get("20261101T000000Z-old000")
        assert old.counts == ChangeCounts(update=3)
        assert old.output_changes == ()


def test_every_store_has_an_owner_identity(store: RunStore) -> None:
    assert len(store.owner_token) == 32
    assert not store.lease_lost.is_set()
    assert store.renew_lease() is True  # nothing lost: the same identity
    assert len(store.owner_token) == 32


def test_a_failed_run_keeps_its_error(store: RunStore) -> None:
    run = store.start("network", RunKind.PLAN, "ci", COMMIT, "terraform")
    store.finish(run.id, RunStatus.FAILED, error="terraform plan: exit 1\nInvalid reference")
    assert store.get(run.id).error == "terraform plan: exit 1\nInvalid reference"


def test_a_finished_record_is_never_rewritten(store: RunStore) -> None:
    run = store.start("network", RunKind.PLAN, "cli", COMMIT, "terraform")
    store.finish(run.id, RunStatus.NO_CHANGES)
    with pytest.raises(RunStoreError, match=f"run {run.id} already finished"):
        store.finish(run.id, RunStatus.FAILED, error="late")
    assert store.get(run.id).status is RunStatus.NO_CHANGES
    with pytest.raises(ValueError):
        store.finish(run.id, RunStatus.RUNNING)


def test_ids_are_unique_and_sort_by_start(store: RunStore) -> None:
    ids = [store.start("s", RunKind.PLAN, "cli", COMMIT, "terraform").id for _ in range(30)]
    assert len(set(ids)) == 30
    listed = [run.id for run in store.list(limit=None)]
    assert listed == ids[::-1]


# ---------------------------------------------------------------- reading


def test_list_is_newest_first_and_filters(store: RunStore) -> None:
    plan = store.start("network", RunKind.PLAN, "cli", COMMIT, "terraform")
    apply = store.start("network", RunKind.APPLY, "cli", COMMIT, "terraform")
    other = store.start("app", RunKind.PLAN, "cli", OTHER_COMMIT, "terraform")

    assert [r.id for r in store.list()] == [other.id, apply.id, plan.id]
    assert [r.id for r in store.list("network")] == [apply.id, plan.id]
    assert [r.id for r in store.list("network", kind=RunKind.PLAN)] == [plan.id]
    assert [r.id for r in store.list(limit=1)] == [other.id]
    assert [r.id for r in store.list(commit=COMMIT.sha[:7])] == [apply.id, plan.id]
    assert [r.id for r in store.list(commit=OTHER_COMMIT.sha.upper())] == [other.id]
    assert store.list("nothing") == []


def test_latest_by_kind_and_status(store: RunStore) -> None:
    assert store.latest("network") is None
    applied = store.start("network", RunKind.APPLY, "cli", COMMIT, "terraform")
    store.finish(applied.id, RunStatus.APPLIED)
    failed = store.start("network", RunKind.APPLY, "cli", OTHER_COMMIT, "terraform")
    store.finish(failed.id, RunStatus.FAILED, error="x")
    drift = store.start("network", RunKind.DRIFT, "daemon", OTHER_COMMIT, "terraform")

    assert store.latest("network") == store.get(drift.id)
    assert store.latest("network", kind=RunKind.APPLY) == store.get(failed.id)
    last_good = store.latest("network", kind=RunKind.APPLY, status=RunStatus.APPLIED)
    assert last_good is not None and last_good.commit.sha == COMMIT.sha
    assert store.latest("app") is None


def test_get_by_unique_prefix_and_clear_errors(store: RunStore, tmp_path: Path) -> None:
    run = store.start("network", RunKind.PLAN, "cli", COMMIT, "terraform")
    assert store.get(run.id[:-2]).id == run.id

    with pytest.raises(RunStoreError) as unknown:
        store.get("19990101T000000Z-000000")
    assert str(unknown.value) == f"no run with id '19990101T000000Z-000000' in {where(store)}"

    second = store.start("network", RunKind.PLAN, "cli", COMMIT, "terraform")
    common = os.path.commonprefix([run.id, second.id])
    with pytest.raises(RunStoreError, match="ambiguous") as ambiguous:
        store.get(common)
    assert run.id in str(ambiguous.value) and second.id in str(ambiguous.value)
    with pytest.raises(RunStoreError, match="no run id given"):
        store.get("")


def test_records_survive_reopening_and_the_schema_is_versioned(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with RunStore.open(state) as store:
        run = store.start("network", RunKind.PLAN, "cli", COMMIT, "terraform")
    with RunStore.open(state) as store:
        assert store.get(run.id).commit == COMMIT
    with sqlite3.connect(state / "runs.db") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_store_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with RunStore.open(state):
        pass
    conn = sqlite3.connect(state / "runs.db")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(RunStoreError, match="newer infra-gitops"), RunStore.open(state):
        pass


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "runs.db").write_text("not sqlite " * 100)
    with pytest.raises(RunStoreError, match=str(state / "runs.db")), RunStore.open(state):
        pass


def test_a_closed_store_refuses_calls(tmp_path: Path, records_url: DatabaseUrl | None) -> None:
    with RunStore.open(tmp_path / "state", database_url=records_url) as store:
        pass
    with pytest.raises(RunStoreError, match="closed"):
        store.list()


# ---------------------------------------------------------------- artifacts


@SQLITE_ONLY
def test_artifacts_are_kept_and_named_on_the_run(store: RunStore, tmp_path: Path) -> None:
    run = store.start("network", RunKind.PLAN, "cli", COMMIT, "terraform")
    plan_file = tmp_path / "plan-redacted.json"
    plan_file.write_text('{"resource_changes": []}')

    plan_path = store.attach(run.id, PLAN_ARTIFACT, plan_file)
    log_path = store.attach(run.id, LOG_ARTIFACT, "line 1\nline 2\n")
    extra = store.attach(run.id, "raw.bin", b"\x00\xff")

    recorded = store.get(run.id)
    assert recorded.plan_artifact == str(plan_path)
    assert recorded.log_artifact == str(log_path)
    assert plan_path == store.state_dir / "artifacts" / run.id / "plan.json"
    assert plan_path.read_text() == '{"resource_changes": []}'
    assert log_path.read_text() == "line 1\nline 2\n"
    assert extra.read_bytes() == b"\x00\xff"
    assert store.artifacts(run.id) == {
        "log.txt": log_path,
        "plan.json": plan_path,
        "raw.bin": extra,
    }

    store.attach(run.id, LOG_ARTIFACT, "replaced\n")
    assert log_path.read_text() == "replaced\n"
    assert sorted(p.name for p in log_path.parent.iterdir()) == ["log.txt", "plan.json", "raw.bin"]


def test_artifacts_are_read_back_by_name_wherever_they_are_kept(store: RunStore) -> None:
    run = store.start("network", RunKind.PLAN, "cli", COMMIT, "terraform")
    store.attach(run.id, PLAN_ARTIFACT, '{"resource_changes": []}')
    store.attach(run.id, "raw.bin", b"\x00\xff")
    store.attach(run.id, PLAN_ARTIFACT, '{"resource_changes": [1]}')  # replaces

    assert store.read_artifact(run.id[:-1], PLAN_ARTIFACT) == b'{"resource_changes": [1]}'
    assert store.read_artifact(run.id, "raw.bin") == b"\x00\xff"
    assert sorted(store.artifacts(run.id)) == ["plan.json", "raw.bin"]
    assert store.get(run.id).plan_artifact == str(store.artifacts(run.id)["plan.json"])
    with pytest.raises(RunStoreError, match="has no artifact 'log.txt'; it has: plan.json, raw"):
        store.read_artifact(run.id, LOG_ARTIFACT)


def test_artifact_names_and_runs_are_checked(store: RunStore) -> None:
    run = store.start("network", RunKind.PLAN, "cli", COMMIT, "terraform")
    for bad in ("", "../escape", "a/b", ".hidden"):
        with pytest.raises(ValueError, match="plain file name"):
            store.attach(run.id, bad, "x")
    with pytest.raises(RunStoreError, match="no run with id 'nope'"):
        store.attach("nope", "log.txt", "x")


@SQLITE_ONLY
def test_a_failed_artifact_write_leaves_nothing_behind(
    store: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = store.start("network", RunKind.PLAN, "cli", COMMIT, "terraform")

    def disk_full(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(OSError, match="No space left"):
        store.attach(run.id, PLAN_ARTIFACT, "{}")
    monkeypatch.undo()
    run_dir = store.artifacts_dir / run.id
    assert list(run_dir.iterdir()) == []
    assert store.get(run.id).plan_artifact is None


@SQLITE_ONLY
def test_readers_never_see_a_half_written_artifact(
    store: RunStore, children: list[subprocess.Popen[str]]
) -> None:
    run = store.start("network", RunKind.PLAN, "cli", COMMIT, "terraform")
    target = store.attach(run.id, LOG_ARTIFACT, "B" * 2_000_000)
    writer = spawn(children, ATTACH_MANY, str(store.state_dir), run.id, "40")
    versions = {"A" * 2_000_000, "B" * 2_000_000}
    reads = 0
    while writer.poll() is None:
        assert target.read_text() in versions  # whole, whichever version it is
        reads += 1
    assert writer.returncode == 0
    assert reads > 0
    assert target.read_text() == "A" * 2_000_000  # the writer's last version
    assert [p.name for p in target.parent.iterdir()] == ["log.txt"]  # no temp file left


# ---------------------------------------------------------------- processes


def test_a_killed_run_is_marked_interrupted(
    store: RunStore, children: list[subprocess.Popen[str]]
) -> None:
    child = spawn(children, START_AND_HANG, str(store.state_dir), database_url=store.database_url)
    assert child.stdout is not None
    run_id = child.stdout.readline().strip()
    mine = store.start("network", RunKind.PLAN, "cli", COMMIT, "terraform")

    assert store.mark_interrupted() == []  # its owner is alive
    assert store.get(run_id).status is RunStatus.RUNNING

    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    # PostgreSQL frees the dead owner's lease when its server process sees the
    # connection closed: a moment after the kill, not at once.
    deadline = time.monotonic() + 10
    while not (marked := store.mark_interrupted()) and time.monotonic() < deadline:
        time.sleep(0.05)

    assert [run.id for run in marked] == [run_id]
    run = store.get(run_id)
    assert run.status is RunStatus.INTERRUPTED
    assert run.finished_at is not None
    assert run.error is not None and f"pid {child.pid}" in run.error
    assert "may be partly changed" in run.error  # it was an apply
    assert store.get(mine.id).status is RunStatus.RUNNING  # this process is alive
    assert store.mark_interrupted() == []


@SQLITE_ONLY
def test_a_reused_pid_does_not_keep_a_dead_run_running(store: RunStore) -> None:
    run = store.start("network", RunKind.PLAN, "cli", COMMIT, "terraform")
    # The recorded owner had this pid but started at another time: a different process.
    with sqlite3.connect(store.db_path) as conn:
        conn.execute("UPDATE runs SET owner_start = 'other-boot:1' WHERE id = ?", (run.id,))
    assert [r.id for r in store.mark_interrupted()] == [run.id]


@SQLITE_ONLY
def test_runs_of_other_hosts_are_left_alone(store: RunStore) -> None:
    run = store.start("network", RunKind.PLAN, "cli", COMMIT, "terraform")
    assert socket.gethostname() != "elsewhere.example"
    with sqlite3.connect(store.db_path) as conn:
        conn.execute(
            "UPDATE runs SET owner_host = 'elsewhere.example', owner_pid = 999999999 WHERE id = ?",
            (run.id,),
        )
    assert store.mark_interrupted() == []
    assert store.get(run.id).status is RunStatus.RUNNING


@SQLITE_ONLY
def test_an_interrupted_run_may_still_record_its_end(store: RunStore) -> None:
    run = store.start("network", RunKind.PLAN, "cli", COMMIT, "terraform")
    with sqlite3.connect(store.db_path) as conn:
        conn.execute("UPDATE runs SET owner_start = 'x' WHERE id = ?", (run.id,))
    store.mark_interrupted()
    assert store.finish(run.id, RunStatus.NO_CHANGES).status is RunStatus.NO_CHANGES


def test_reading_while_another_process_writes(
    store: RunStore, children: list[subprocess.Popen[str]]
) -> None:
    writer = spawn(
        children, WRITE_MANY, str(store.state_dir), "150", database_url=store.database_url
    )
    reads_during_writes = 0
    while writer.poll() is None:
        runs = store.list("app", limit=5)
        reads_during_writes += bool(runs)
        for run in runs:
            if run.status is RunStatus.RUNNING:
                assert run.finished_at is None and run.changes == ()
            else:
                # One transaction per finish: a finished run is always whole.
                assert run.finished_at is not None
                assert len(run.changes) == 50 and run.counts.create == 50
    assert writer.returncode == 0
    assert reads_during_writes > 1
    finished = store.list("app", limit=None)
    assert len(finished) == 150
    assert all(run.status is RunStatus.CHANGES for run in finished)


def test_many_openers_creating_the_store_at_once(tmp_path: Path) -> None:
    # Threads released together by a barrier collide far more reliably than processes.
    for trial in range(5):
        errors = open_at_once(tmp_path / f"fresh-{trial}", openers=8)
        assert errors == []


def open_at_once(state: Path, openers: int) -> list[BaseException]:
    barrier = threading.Barrier(openers)
    errors: list[BaseException] = []

    def open_store() -> None:
        barrier.wait()
        try:
            with RunStore.open(state) as store:
                store.list()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(openers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


# ---------------------------------------------------------------- secrets


def test_a_scrubbing_store_keeps_secrets_out_of_records_and_artifacts(
    tmp_path: Path, records_url: DatabaseUrl | None
) -> None:
    secret = "s3cr3t-db-password"
    scrubber = Scrubber([secret])
    with RunStore.open(tmp_path / "state", scrubber=scrubber, database_url=records_url) as store:
        run = store.start("db", RunKind.APPLY, "cli", COMMIT, "terraform")
        leaked = ResourceChange(
            "x.db", "x", "db", Action.UPDATE, after={"password": secret, "note": f"pw {secret}"}
        )
        store.finish(run.id, RunStatus.FAILED, changes=(leaked,), error=f"auth failed: {secret}")
        store.attach(run.id, LOG_ARTIFACT, f"connecting with {secret}\n")

        recorded = store.get(run.id)
        log = store.read_artifact(run.id, LOG_ARTIFACT)
    assert recorded.error == f"auth failed: {SENSITIVE_MARKER}"
    assert recorded.changes[0].after == {
        "password": SENSITIVE_MARKER,
        "note": f"pw {SENSITIVE_MARKER}",
    }
    assert log == f"connecting with {SENSITIVE_MARKER}\n".encode()
    raw = b"".join(p.read_bytes() for p in (tmp_path / "state").rglob("*") if p.is_file())
    assert secret.encode() not in raw


def test_duration_is_measured_from_start(store: RunStore) -> None:
    run = store.start("network", RunKind.PLAN, "cli", COMMIT, "terraform")
    time.sleep(0.2)
    finished = store.finish(run.id, RunStatus.NO_CHANGES)
    assert finished.duration_s is not None and 0.2 <= finished.duration_s < 10


# ---------------------------------------------------------------- the file under the store


@SQLITE_ONLY
def test_a_deleted_database_is_an_error_never_a_new_empty_one(store: RunStore) -> None:
    store.start("storage", RunKind.APPLY, "cli", COMMIT, "terraform")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{store.db_path}{suffix}").unlink(missing_ok=True)

    with pytest.raises(RunStoreError, match="runs.db was deleted"):
        store.list()
    with pytest.raises(RunStoreError, match="runs.db was deleted"):
        store.start("storage", RunKind.APPLY, "cli", COMMIT, "terraform")
    with pytest.raises(RunStoreError):
        store.check()
    assert not store.db_path.exists()


@SQLITE_ONLY
def test_a_replaced_database_is_an_error(store: RunStore, tmp_path: Path) -> None:
    store.start("storage", RunKind.APPLY, "cli", COMMIT, "terraform")
    with RunStore.open(tmp_path / "other") as other:
        other.check()
        os.replace(other.db_path, store.db_path)

    with pytest.raises(RunStoreError, match=r"runs.db was replaced"):
        store.list()


@SQLITE_ONLY
def test_check_fails_on_a_corrupt_database(store: RunStore) -> None:
    store.check()
    with open(store.db_path, "r+b") as db:
        db.write(b"this is no longer a SQLite file!" * 4)
    with pytest.raises(RunStoreError, match="runs.db"):
        store.check()


def test_the_state_dir_is_made_owner_only(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    state.chmod(0o755)
    with RunStore.open(state):
        pass
    assert state.stat().st_mode & 0o777 == 0o700


@SQLITE_ONLY
def test_another_database_copied_over_in_place_is_an_error(store: RunStore, tmp_path: Path) -> None:
    store.start("storage", RunKind.APPLY, "cli", COMMIT, "terraform")
    with RunStore.open(tmp_path / "other") as other:
        other.check()
    with sqlite3.connect(tmp_path / "other" / "runs.db") as src:
        src.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    inode = store.db_path.stat().st_ino
    for suffix in ("-wal", "-shm"):
        Path(f"{store.db_path}{suffix}").unlink(missing_ok=True)
    store.db_path.write_bytes((tmp_path / "other" / "runs.db").read_bytes())  # same inode
    assert store.db_path.stat().st_ino == inode

    with pytest.raises(RunStoreError, match="replaced by another database"):
        store.list()


# ---------------------------------------------------------------- queries at scale


def _record(store: RunStore, stack: str, status: RunStatus = RunStatus.NO_CHANGES) -> Run:
    run = store.start(stack, RunKind.PLAN, "cli", COMMIT, "terraform")
    return store.finish(run.id, status)


def test_recent_runs_by_stack_are_what_list_gives_each_stack(store: RunStore) -> None:
    for i in range(12):
        _record(store, f"s{i % 3}")
    store.attach(_record(store, "s1").id, PLAN_ARTIFACT, "{}")

    recent = store.recent_runs_by_stack(["s2", "none", "s1", "s2"], per_stack=3)

    assert list(recent) == ["s2", "none", "s1"]  # as asked, once each
    assert recent == {name: store.list(stack=name, limit=3) for name in ("s2", "none", "s1")}
    assert recent["s1"][0].plan_artifact is not None
    assert store.stack_names() == ["s0", "s1", "s2"]


@SQLITE_ONLY
def test_run_queries_walk_an_index_never_the_whole_table(
    store: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # History grows without bound: reading the newest runs, one stack's runs or the
    # list of stacks must never scan every run.
    for stack in ("a", "b"):
        _record(store, stack)
    statements: list[str] = []
    connect = sqlite3.connect

    def traced(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = connect(*args, **kwargs)
        conn.set_trace_callback(statements.append)
        return conn

    monkeypatch.setattr(sqlite3, "connect", traced)
    store.list(limit=20)
    store.list(stack="a", limit=20)
    store.list(stack="a", kind=RunKind.PLAN, limit=20)
    store.recent_runs_by_stack(["a", "b"], per_stack=50)
    store.stack_names()
    monkeypatch.undo()

    reads = [s for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH"))]
    conn = sqlite3.connect(store.db_path)
    try:
        plans = {s: [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + s)] for s in reads}
    finally:
        conn.close()
    on_runs = {s: p for s, p in plans.items() if " runs" in s.replace("\n", " ")}
    assert len(on_runs) >= 5
    # A table scan, or a walk of a whole index (as SELECT DISTINCT stack makes); an
    # index walked in order up to a LIMIT ("SCAN runs USING INDEX") is what is wanted.
    walks = {
        s: p
        for s, p in on_runs.items()
        if any(
            line == "SCAN runs" or "USING COVERING INDEX" in line and line.startswith("SCAN")
            for line in p
        )
    }
    assert not walks, on_runs


def test_latest_state_change_moves_with_every_apply_heal_or_destroy(store: RunStore) -> None:
    assert store.latest_state_change("app") is None
    store.finish(store.start("app", RunKind.PLAN, "cli", COMMIT, "terraform").id, RunStatus.CHANGES)
    store.start("db", RunKind.APPLY, "cli", COMMIT, "terraform")
    assert store.latest_state_change("app") is None  # plans and other stacks do not count
    applying = store.start("app", RunKind.APPLY, "cli", COMMIT, "terraform")
    started = store.latest_state_change("app")
    assert started is not None and applying.id in started
    store.finish(applying.id, RunStatus.APPLIED)
    finished = store.latest_state_change("app")
    assert finished not in (None, started)  # its end is a change too
    store.start("app", RunKind.DRIFT, "daemon:drift", COMMIT, "terraform")
    assert store.latest_state_change("app") == finished
    healing = store.start("app", RunKind.HEAL, "daemon:drift", COMMIT, "terraform")
    assert healing.id in str(store.latest_state_change("app"))
