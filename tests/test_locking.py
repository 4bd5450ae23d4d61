from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra_gitops.errors import GitOpsError, LockHeldError
from infra_gitops.locking import lock_path, read_holder, stack_lock

HOLDER = """
import sys, time
from pathlib import Path
from infra_gitops.locking import stack_lock
with stack_lock(Path(sys.argv[1]), sys.argv[2], run_id="run-held-elsewhere"):
    print("locked", flush=True)
    time.sleep(float(sys.argv[3]))
print("released", flush=True)
"""


@pytest.fixture
def holders() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def hold_lock(
    procs: list[subprocess.Popen[str]], state_dir: Path, stack: str, seconds: float
) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(state_dir), stack, str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    procs.append(proc)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_lock_held_by_another_process_names_the_holder(
    tmp_path: Path, holders: list[subprocess.Popen[str]]
) -> None:
    holder = hold_lock(holders, tmp_path, "prod-network", 30)
    with pytest.raises(LockHeldError) as caught, stack_lock(tmp_path, "prod-network"):
        pytest.fail("the lock was acquired while another process held it")
    err = caught.value
    assert isinstance(err, GitOpsError)
    assert err.stack == "prod-network"
    assert err.pid == holder.pid
    assert err.host == socket.gethostname()
    assert err.run_id == "run-held-elsewhere"
    message = str(err)
    assert "stack 'prod-network'" in message
    assert f"pid {holder.pid}" in message
    assert f"since {err.since}" in message and err.since


def test_lock_of_a_killed_holder_is_free_at_once(
    tmp_path: Path, holders: list[subprocess.Popen[str]]
) -> None:
    holder = hold_lock(holders, tmp_path, "app", 30)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    with stack_lock(tmp_path, "app") as lock:
        assert lock.holder.pid == os.getpid()


def test_waiting_gets_the_lock_once_the_holder_releases_it(
    tmp_path: Path, holders: list[subprocess.Popen[str]]
) -> None:
    holder = hold_lock(holders, tmp_path, "app", 0.5)
    started = time.monotonic()
    with stack_lock(tmp_path, "app", wait=20) as lock:
        waited = time.monotonic() - started
        assert lock.holder.pid == os.getpid()
    assert 0.2 < waited < 10
    assert holder.wait(timeout=10) == 0


def test_waiting_gives_up_after_the_wait(
    tmp_path: Path, holders: list[subprocess.Popen[str]]
) -> None:
    hold_lock(holders, tmp_path, "app", 30)
    started = time.monotonic()
    with pytest.raises(LockHeldError, match=r"waited 0.3s"), stack_lock(tmp_path, "app", wait=0.3):
        pass
    assert 0.3 <= time.monotonic() - started < 5


def test_lock_is_released_when_the_block_raises(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), stack_lock(tmp_path, "app"):
        raise RuntimeError("engine crashed")
    with stack_lock(tmp_path, "app"):
        pass
    assert read_holder(tmp_path, "app") is None  # no stale holder left behind


def test_two_acquisitions_in_one_process_exclude_each_other(tmp_path: Path) -> None:
    with stack_lock(tmp_path, "app"):
        errors: list[BaseException] = []

        def other_thread() -> None:
            try:
                with stack_lock(tmp_path, "app"):
                    pass
            except LockHeldError as exc:
                errors.append(exc)

        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
        assert len(errors) == 1
        assert f"pid {os.getpid()}" in str(errors[0])


def test_different_stacks_do_not_block_each_other(tmp_path: Path) -> None:
    with stack_lock(tmp_path, "network"), stack_lock(tmp_path, "app"):
        pass


def test_holder_info_is_updated_with_the_run(tmp_path: Path) -> None:
    with stack_lock(tmp_path, "app") as lock:
        lock.update(run_id="20261123T171500Z-abc123")
        holder = read_holder(tmp_path, "app")
        assert holder is not None
        assert holder.run_id == "20261123T171500Z-abc123"
        assert holder.pid == os.getpid()


def test_stack_names_cannot_escape_the_locks_directory(tmp_path: Path) -> None:
    for name in ("../outside", "..", "a/b", ".hidden"):
        path = lock_path(tmp_path, name)
        assert path.parent == tmp_path / "locks"
        assert path.name not in (".lock", "..lock")
    assert lock_path(tmp_path, "a/b") != lock_path(tmp_path, "a_b")
    with stack_lock(tmp_path, "../outside"):
        assert not (tmp_path.parent / "outside.lock").exists()
