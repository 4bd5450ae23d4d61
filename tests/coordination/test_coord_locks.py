"""Stack locks, on files and on PostgreSQL: exclusive across threads and processes,
freed at once when the holder is killed, the holder named; a PostgreSQL lock whose
connection breaks is reported lost, and the engine process running under it stopped."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from coord_helpers import Helpers
from postgres_server import PostgresServer

from infra_gitops import process
from infra_gitops.coordination.locks import FileStackLocks, PostgresStackLocks, StackLocks
from infra_gitops.coordination.queue import WorkQueue
from infra_gitops.errors import EngineError, GitOpsError, LockHeldError
from infra_gitops.postgres import DatabaseError, DatabaseUrl

MakeLocks = Callable[[str], StackLocks]
"""A replica's locks, by its owner token."""

HOLDER = """
import sys, time
from pathlib import Path
from infra_gitops.coordination.queue import WorkQueue
from infra_gitops.coordination.locks import FileStackLocks, PostgresStackLocks
from infra_gitops.postgres import DatabaseError, DatabaseUrl
kind, where, stack, seconds = sys.argv[1:5]
locks = (
    FileStackLocks(Path(where)) if kind == "file"
    else PostgresStackLocks(DatabaseUrl.parse(where), "helper-replica")
)
with locks.hold(stack, run_id="run-held-elsewhere"):
    print("locked", flush=True)
    time.sleep(float(seconds))
print("released", flush=True)
"""


@pytest.fixture(params=["file", "postgres"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def where(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """The state dir (file locks) or the database URL (PostgreSQL locks)."""
    if kind == "file":
        return str(tmp_path)
    return str(request.getfixturevalue("url").dsn)


@pytest.fixture
def make_locks(kind: str, where: str) -> MakeLocks:
    if kind == "file":
        return lambda _token: FileStackLocks(Path(where))
    return lambda token: PostgresStackLocks(DatabaseUrl.parse(where), token)


def test_a_stack_is_held_by_one_thread_at_a_time(make_locks: MakeLocks) -> None:
    mine, theirs = make_locks("replica-1"), make_locks("replica-2")
    with mine.hold("network") as held:
        held.update(run_id="run-1")
        errors: list[LockHeldError] = []

        def other() -> None:
            try:
                with theirs.hold("network", wait=0.2):
                    pytest.fail("a held stack was locked again")
            except LockHeldError as exc:
                errors.append(exc)

        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        assert len(errors) == 1
        assert errors[0].pid == os.getpid() and errors[0].run_id == "run-1"
        assert "waited 0.2s" in str(errors[0])
        with theirs.hold("storage"):  # other stacks are free
            pass
        assert not held.lost.is_set()
    with theirs.hold("network") as again:
        assert again.holder.pid == os.getpid() and again.holder.run_id is None


def test_a_lock_held_by_another_process_names_it_and_is_freed_when_it_is_killed(
    kind: str, where: str, make_locks: MakeLocks, helpers: Helpers
) -> None:
    holder, line = helpers.start(HOLDER, kind, where, "prod-network", "600")
    assert line == "locked"
    locks = make_locks("replica-1")
    with pytest.raises(LockHeldError) as caught, locks.hold("prod-network"):
        pytest.fail("the lock was acquired while another process held it")
    err = caught.value
    assert isinstance(err, GitOpsError)
    assert (err.stack, err.pid, err.host) == ("prod-network", holder.pid, socket.gethostname())
    assert err.run_id == "run-held-elsewhere" and err.since
    assert f"pid {holder.pid}" in str(err) and "run run-held-elsewhere" in str(err)
    assert "***" in str(err) or kind == "file"  # the database named without its password

    helpers.sigkill(holder)
    started = time.monotonic()
    with locks.hold("prod-network", wait=10) as held:
        assert held.holder.pid == os.getpid()
    assert time.monotonic() - started < 2  # at once, not after a lease timeout


def test_waiting_gets_the_lock_when_the_holder_releases_it(
    kind: str, where: str, make_locks: MakeLocks, helpers: Helpers
) -> None:
    holder, _ = helpers.start(HOLDER, kind, where, "app", "0.5")
    started = time.monotonic()
    with make_locks("replica-1").hold("app", wait=20):
        assert 0.2 < time.monotonic() - started < 10
    assert holder.wait(timeout=10) == 0


def test_a_released_postgres_lock_leaves_no_holder_row(url: DatabaseUrl) -> None:
    from infra_gitops import postgres

    with PostgresStackLocks(url, "r1").hold("app", run_id="run-7"):
        with postgres.connection(url) as conn:
            row = conn.execute("SELECT owner_token, run_id FROM stack_lock_holders").fetchone()
        assert row == {"owner_token": "r1", "run_id": "run-7"}
    with postgres.connection(url) as conn:
        assert conn.execute("SELECT count(*) AS n FROM stack_lock_holders").fetchone() == {"n": 0}


def test_a_lost_connection_sets_lost_and_stops_the_engine_under_it(
    url: DatabaseUrl, restarted: PostgresServer
) -> None:
    locks = PostgresStackLocks(url, "replica-1")
    pids: list[int] = []
    with locks.hold("network") as held:
        failure: list[BaseException] = []

        def engine() -> None:
            try:
                with process.cancel_on(held.lost):
                    # A shell and its own child: both must go (the whole process group).
                    process.run(
                        ["sh", "-c", "sleep 300 & echo $!; echo $$; wait"],
                        on_stdout_line=lambda line: pids.append(int(line)),
                        timeout=600,
                    )
            except BaseException as exc:
                failure.append(exc)

        thread = threading.Thread(target=engine)
        thread.start()
        _until(lambda: len(pids) == 2, 10)
        stopped = time.monotonic()
        restarted.stop()
        assert held.lost.wait(10), "lost was not set after the database stopped"
        thread.join(timeout=30)
        assert time.monotonic() - stopped < 10
    assert len(failure) == 1 and isinstance(failure[0], EngineError)
    assert "lock this operation held was lost" in str(failure[0])
    for pid in pids:  # the shell and its child: the whole group (zombies count as gone)
        assert not process.running(pid)

    # While the database is down: a clear error naming it, never its password.
    with pytest.raises(DatabaseError) as caught, locks.hold("network"):
        pytest.fail("a lock was taken without a database")
    assert url.display in str(caught.value) and restarted.password not in str(caught.value)
    with pytest.raises(DatabaseError) as caught:
        WorkQueue(url, "repo-a").claim("replica-1")
    assert url.display in str(caught.value) and restarted.password not in str(caught.value)

    restarted.start()
    with locks.hold("network", wait=5) as again:
        assert not again.lost.is_set()


def test_cancel_on_leaves_runs_alone_while_the_event_is_clear(tmp_path: Path) -> None:
    never = threading.Event()
    with process.cancel_on(never):
        done = process.run(["sh", "-c", "sleep 0.3; echo ok"], timeout=10)
    assert done.returncode == 0 and done.stdout.strip() == "ok"
    gone = threading.Event()
    gone.set()
    marker = tmp_path / "started"
    with pytest.raises(EngineError, match="was not started"), process.cancel_on(gone):
        process.run(["touch", str(marker)], timeout=60)
    assert not marker.exists()  # never started under a lost lock
    assert process.run(["true"], timeout=10).returncode == 0  # outside: no cancel


def _until(check: Callable[[], bool], within: float) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
