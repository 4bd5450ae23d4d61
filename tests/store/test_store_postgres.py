"""The run store on a real PostgreSQL server: owners that die on any host, a database
restarted or replaced under an open store, concurrent writers, and no password in any
error. (tests/test_runs.py runs the shared behaviour against both back ends.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from postgres_server import PostgresServer

from infra_gitops import postgres
from infra_gitops.errors import GitOpsError, RunStoreError
from infra_gitops.models import Commit, RunKind, RunStatus
from infra_gitops.postgres import DATABASE_URL_ENV, DatabaseError, DatabaseUrl
from infra_gitops.runs import RunStore
from infra_gitops.store.postgres import QmarkTx

COMMIT = Commit("c" * 40, "Ada", "ada@example.com", "2026-11-23T17:00:00+00:00", "msg")

START_AND_HANG = """
import sys, time
from pathlib import Path
from infra_gitops.models import Commit, RunKind
from infra_gitops.postgres import url_from
from infra_gitops.runs import RunStore
commit = Commit("c" * 40, "Ada", "ada@example.com", "2026-11-23T17:00:00+00:00", "msg")
with RunStore.open(Path(sys.argv[1]), database_url=url_from(None)) as store:
    run = store.start(sys.argv[2], RunKind.APPLY, "daemon", commit, "terraform")
    print(run.id, flush=True)
    time.sleep(120)
"""


@pytest.fixture
def url(database_url: str) -> DatabaseUrl:
    return DatabaseUrl.parse(database_url)


@pytest.fixture
def store(tmp_path: Path, url: DatabaseUrl) -> Iterator[RunStore]:
    with RunStore.open(tmp_path / "state", database_url=url) as opened:
        yield opened


@pytest.fixture
def replicas(tmp_path: Path, url: DatabaseUrl) -> Iterator[Callable[[str], tuple[str, int]]]:
    """Start a process that opens the store and starts a run of a stack, then hangs:
    returns (run id, pid). Killed at the end."""
    procs: list[subprocess.Popen[str]] = []

    def start(stack: str) -> tuple[str, int]:
        env = {**os.environ, DATABASE_URL_ENV: url.dsn}
        proc = subprocess.Popen(
            [sys.executable, "-c", START_AND_HANG, str(tmp_path / stack), stack],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        procs.append(proc)
        assert proc.stdout is not None
        return proc.stdout.readline().strip(), proc.pid

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def wait_until(what: str, check: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_the_run_of_a_killed_owner_on_another_host_is_interrupted_by_any_store(
    store: RunStore,
    replicas: Callable[[str], tuple[str, int]],
    url: DatabaseUrl,
    postgres_server: PostgresServer,
) -> None:
    dying, dying_pid = replicas("network")
    living, _ = replicas("app")
    # Liveness is the owner's lease, not a pid of this host: both look remote.
    postgres_server.psql(
        "UPDATE runs SET owner_host = 'elsewhere.example'", database=url.dsn.rsplit("/", 1)[1]
    )

    assert store.mark_interrupted() == []
    os.kill(dying_pid, signal.SIGKILL)
    wait_until("the killed owner's lease to be free", lambda: bool(store.mark_interrupted()))

    run = store.get(dying)
    assert run.status is RunStatus.INTERRUPTED
    assert run.error is not None and f"pid {dying_pid} on host elsewhere.example" in run.error
    assert "may be partly changed" in run.error
    assert store.get(living).status is RunStatus.RUNNING  # its owner holds its lease
    assert store.mark_interrupted() == []


def test_a_database_restarted_under_an_open_store(
    store: RunStore, postgres_server: PostgresServer
) -> None:
    before = store.start("network", RunKind.APPLY, "daemon", COMMIT, "terraform")
    token = store.owner_token
    postgres_server.stop()
    try:
        with pytest.raises(DatabaseError) as down:
            store.list()
        message = str(down.value)
        assert store.database_url is not None and store.database_url.display in message
        assert postgres_server.password not in message
        wait_until("lease_lost", store.lease_lost.is_set, timeout=10)
        assert store.renew_lease() is False  # still unreachable
    finally:
        postgres_server.start()

    assert store.get(before.id).status is RunStatus.RUNNING  # works again, once reconnected
    assert store.renew_lease() is True
    assert not store.lease_lost.is_set()
    assert store.owner_token != token
    # Its engines stopped with the lost lease: the old token's runs are anyone's to end.
    assert [r.id for r in store.mark_interrupted()] == [before.id]
    after = store.start("network", RunKind.PLAN, "daemon", COMMIT, "terraform")
    assert store.mark_interrupted() == []
    assert store.get(after.id).status is RunStatus.RUNNING


def test_a_database_dropped_and_created_again_is_an_error_never_a_new_history(
    store: RunStore, postgres_server: PostgresServer, url: DatabaseUrl, tmp_path: Path
) -> None:
    store.start("network", RunKind.APPLY, "cli", COMMIT, "terraform")
    name = url.dsn.rsplit("/", 1)[1]
    postgres_server.psql(f"DROP DATABASE {name} WITH (FORCE)")
    postgres_server.psql(f"CREATE DATABASE {name} OWNER infra_gitops")

    with pytest.raises(RunStoreError, match="replaced by an empty database") as empty:
        store.list()
    with RunStore.open(tmp_path / "new", database_url=url):
        pass  # another process starts a new history there
    with pytest.raises(RunStoreError, match="replaced by another database") as other:
        store.start("network", RunKind.APPLY, "cli", COMMIT, "terraform")
    for caught in (empty, other):
        assert url.display in str(caught.value)
        assert postgres_server.password not in str(caught.value)


def test_concurrent_writers_of_two_stores_lose_and_duplicate_nothing(
    tmp_path: Path, url: DatabaseUrl, postgres_server: PostgresServer
) -> None:
    per_thread, threads_per_store = 20, 4
    errors: list[BaseException] = []
    ids: list[str] = []
    noted: list[bool] = []
    with (
        RunStore.open(tmp_path / "a", database_url=url) as a,
        RunStore.open(tmp_path / "b", database_url=url) as b,
    ):
        barrier = threading.Barrier(2 * threads_per_store)

        def write(store: RunStore, n: int) -> None:
            barrier.wait()
            try:
                for i in range(per_thread):
                    run = store.start(f"s{i % 5}", RunKind.PLAN, "daemon", COMMIT, "terraform")
                    store.finish(run.id, RunStatus.NO_CHANGES)
                    ids.append(run.id)
                    store.update_stack_state(f"s{i % 5}", message=f"writer {n}")
                noted.append(store.record_bad_commit("d" * 40, "bad manifest"))
            except BaseException as exc:
                errors.append(exc)

        workers = [
            threading.Thread(target=write, args=(store, n))
            for n, store in enumerate([a, b] * threads_per_store)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert errors == []
        recorded = a.list(limit=None)
        assert sorted(r.id for r in recorded) == sorted(ids)
        assert len(set(ids)) == 2 * threads_per_store * per_thread
        assert all(r.status is RunStatus.NO_CHANGES for r in recorded)
        assert sorted(b.stack_states()) == ["s0", "s1", "s2", "s3", "s4"]
        assert sorted(noted) == [False] * (2 * threads_per_store - 1) + [True]
    name = url.dsn.rsplit("/", 1)[1]
    sessions = f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{name}'"
    assert postgres_server.psql(sessions) == "0"  # pools and leases closed on exit


def test_the_password_is_in_no_error(postgres_server: PostgresServer, tmp_path: Path) -> None:
    wrong = DatabaseUrl.parse(
        postgres_server.url("postgres").replace(postgres_server.password, "n0tThePassw0rd")
    )
    missing = DatabaseUrl.parse(postgres_server.url("no_such_database"))
    for url, secret in ((wrong, "n0tThePassw0rd"), (missing, postgres_server.password)):
        with pytest.raises(GitOpsError) as caught, RunStore.open(tmp_path, database_url=url):
            pass
        assert secret not in str(caught.value)
        assert url.display in str(caught.value)


def test_run_queries_walk_an_index_never_the_whole_table(
    store: RunStore,
    url: DatabaseUrl,
    postgres_server: PostgresServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # History grows without bound: the newest runs, one stack's runs, the newest runs
    # of many stacks and the list of stacks must be index walks, as on SQLite.
    postgres_server.psql(
        "INSERT INTO runs (id, stack, kind, trigger, status, engine, commit_sha, "
        "commit_author, commit_email, commit_date, commit_message, commit_dirty, "
        "started_at, owner_pid, owner_host) "
        f"SELECT to_char(g, 'FM0000000'), 's' || (g % 200), '{RunKind.PLAN}', 'cli', "
        f"'{RunStatus.NO_CHANGES}', 'terraform', repeat('a', 40), 'a', 'a@x', '2026', 'm', "
        "0, to_char(g, 'FM0000000'), 1, 'h' FROM generate_series(1, 20000) AS g; "
        "ANALYZE runs",
        database=url.dsn.rsplit("/", 1)[1],
    )
    statements: list[tuple[str, Sequence[Any]]] = []
    execute = QmarkTx.execute

    def traced(self: QmarkTx, sql: str, params: Sequence[Any] = ()) -> Any:
        statements.append((sql, params))
        return execute(self, sql, params)

    monkeypatch.setattr(QmarkTx, "execute", traced)
    store.list(limit=20)
    store.list(stack="s1", limit=20)
    store.list(stack="s1", kind=RunKind.PLAN, limit=20)
    assert len(store.recent_runs_by_stack(["s1", "s2"], per_stack=50)["s2"]) == 50
    assert len(store.stack_names()) == 200
    monkeypatch.undo()

    on_runs = [(sql, params) for sql, params in statements if " runs" in sql.replace("\n", " ")]
    assert len(on_runs) == 5
    with postgres.connection(url) as conn:
        for sql, params in on_runs:
            rows = conn.execute("EXPLAIN " + sql.replace("?", "%s"), params).fetchall()
            plan = "\n".join(row["QUERY PLAN"] for row in rows)
            assert "Seq Scan on runs" not in plan, plan
            assert "Index" in plan, plan
