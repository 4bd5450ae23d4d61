"""One run per stack at a time, across processes sharing a state directory.

A lock is an flock(2) on <state_dir>/locks/<stack>.lock. The kernel releases it when
the holder closes the file or dies, so a crashed run never leaves a stale lock. The
file's content only says who holds it, for the error message; the file itself is never
deleted (deleting a locked file lets a second process lock a new file of the same name).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from infra_gitops.errors import LockHeldError

_POLL_S = 0.05


@dataclass(frozen=True)
class LockHolder:
    """Who holds a stack lock, as written into the lock file."""

    stack: str
    pid: int
    host: str
    since: str
    """UTC ISO 8601."""
    run_id: str | None = None


class StackLock:
    """A held stack lock; update() rewrites the holder info (e.g. once the run has an id)."""

    def __init__(self, path: Path, fd: int, holder: LockHolder) -> None:
        self.path = path
        self.holder = holder
        self._fd = fd
        self.lost = threading.Event()
        """Never set: the kernel keeps a file lock for as long as the holder lives (the
        coordination.locks.HeldLock Protocol's database locks can be lost)."""

    def update(self, *, run_id: str | None) -> None:
        self.holder = replace(self.holder, run_id=run_id)
        _write_holder(self._fd, self.holder)


def lock_path(state_dir: Path, stack_name: str) -> Path:
    # Stack names come from the manifest: quoting keeps a name like "../x" inside locks/.
    safe = quote(stack_name, safe="")
    if safe.startswith("."):
        safe = "%2E" + safe[1:]
    return Path(state_dir) / "locks" / f"{safe}.lock"


@contextmanager
def stack_lock(
    state_dir: Path, stack_name: str, *, wait: float = 0, run_id: str | None = None
) -> Iterator[StackLock]:
    """Hold the stack's lock for the block; wait up to `wait` seconds for it.

    Raises LockHeldError naming the holder when another run keeps it longer.
    Two acquisitions in one process also exclude each other (flock is per open file).
    """
    path = lock_path(state_dir, stack_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        _acquire(fd, Path(state_dir), stack_name, wait)
        holder = LockHolder(stack_name, os.getpid(), socket.gethostname(), _now(), run_id)
        lock = StackLock(path, fd, holder)
        _write_holder(fd, holder)
        try:
            yield lock
        finally:
            # Cleared before unlocking so nobody reads a holder that has already left.
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def read_holder(state_dir: Path, stack_name: str) -> LockHolder | None:
    """Who holds (or last wrote) the lock file; None when unknown."""
    try:
        text = lock_path(state_dir, stack_name).read_text(encoding="utf-8")
        return LockHolder(**json.loads(text))
    except (OSError, ValueError, TypeError):
        return None


def _acquire(fd: int, state_dir: Path, stack_name: str, wait: float) -> None:
    deadline = time.monotonic() + max(wait, 0)
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise _held_error(state_dir, stack_name, wait) from None
            # Polling, not a blocking flock: a blocking call cannot be given a timeout
            # without signals, which only work in the main thread.
            time.sleep(_POLL_S)


def _held_error(state_dir: Path, stack_name: str, wait: float) -> LockHeldError:
    holder = _read_holder_settled(state_dir, stack_name)
    where = f"lock file: {lock_path(state_dir, stack_name)}"
    return held_error(stack_name, holder, wait, where, unknown="another process")


def held_error(
    stack_name: str, holder: LockHolder | None, wait: float, where: str, *, unknown: str
) -> LockHeldError:
    """The error for a stack lock another run keeps: who holds it, and where the lock is
    (a file, a database), for whichever kind of lock found it held."""
    waited = f" (waited {wait:g}s)" if wait > 0 else ""
    if holder is None:
        who = f"{unknown} (its details are not readable yet)"
    else:
        run = f", run {holder.run_id}" if holder.run_id else ""
        who = f"pid {holder.pid} on host {holder.host} since {holder.since}{run}"
    return LockHeldError(
        f"stack '{stack_name}' is locked by {who}{waited}: another run of this stack is in "
        f"progress; wait for it to finish or retry later ({where})",
        stack=stack_name,
        pid=holder.pid if holder else None,
        host=holder.host if holder else None,
        since=holder.since if holder else None,
        run_id=holder.run_id if holder else None,
    )


def _read_holder_settled(state_dir: Path, stack_name: str) -> LockHolder | None:
    # The holder writes its details right after locking: give it a moment.
    for _ in range(5):
        holder = read_holder(state_dir, stack_name)
        if holder is not None:
            return holder
        time.sleep(0.02)
    return None


def _write_holder(fd: int, holder: LockHolder) -> None:
    data = json.dumps(asdict(holder)).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
