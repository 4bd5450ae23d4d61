"""Per-stack locks: one operation per stack at a time, whoever runs it.

Two implementations behind one Protocol: file locks (flock in the state directory, for
one machine: the embedded default) and PostgreSQL session advisory locks (replicas on
several machines). Both die with their holder: a killed process frees its stacks at
once. A PostgreSQL lock also dies with its connection, so a holder must stop working
when that connection breaks: `lost` says so (the runner kills its engine process).
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from infra_gitops import locking, postgres
from infra_gitops.coordination._db import Watchdog, Watched, connect_vouching
from infra_gitops.errors import LockHeldError
from infra_gitops.locking import LockHolder
from infra_gitops.postgres import DatabaseUrl

if TYPE_CHECKING:
    import psycopg

NS_STACK = 0x1F0A_0010
"""First key of a stack's advisory lock (the second: hashtext of the stack's name)."""
_POLL_S = 0.05


class HeldLock(Protocol):
    """A stack lock being held."""

    holder: LockHolder
    lost: threading.Event
    """Set when the lock can no longer be vouched for (its database connection broke):
    whatever runs under it must stop, another replica may hold the stack now."""

    def update(self, *, run_id: str | None) -> None:
        """Note the run holding the lock (shown to whoever finds it held)."""


class StackLocks(Protocol):
    def hold(
        self, stack: str, *, wait: float = 0, run_id: str | None = None
    ) -> AbstractContextManager[HeldLock]:
        """Hold stack's lock for the block, waiting up to `wait` seconds for it; raises
        LockHeldError naming the holder when another keeps it longer."""
        ...


class FileStackLocks:
    """flock(2) locks under state_dir/locks (infra_gitops.locking): one machine."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)

    def hold(
        self, stack: str, *, wait: float = 0, run_id: str | None = None
    ) -> AbstractContextManager[HeldLock]:
        return locking.stack_lock(self.state_dir, stack, wait=wait, run_id=run_id)


class PostgresStackLocks:
    """Session advisory locks, one dedicated connection per hold (the lock lives exactly
    as long as that connection); who holds it is written to stack_lock_holders for the
    message of whoever finds it held. Thread-safe.

    Keyed by the stack's name alone, as its run records are: a person's command and
    every replica of every repository sharing the database exclude each other on it.
    """

    def __init__(self, url: DatabaseUrl, owner_token: str) -> None:
        self.url = url
        self.owner_token = owner_token
        self._watchdog = Watchdog()

    @contextmanager
    def hold(self, stack: str, *, wait: float = 0, run_id: str | None = None) -> Iterator[HeldLock]:
        conn = connect_vouching(self.url)
        try:
            with postgres.translated_errors(self.url, f"locking stack {stack!r}"):
                self._acquire(conn, stack, wait)
                held = _PostgresLock(self, conn, stack, run_id)
            self._watchdog.watch(held.watched)
            try:
                yield held
            finally:
                self._watchdog.unwatch(held.watched)
                held.release()
        finally:
            conn.close()

    def _acquire(self, conn: psycopg.Connection[Any], stack: str, wait: float) -> None:
        deadline = time.monotonic() + max(wait, 0)
        while True:
            row = conn.execute(
                "SELECT pg_try_advisory_lock(%s, hashtext(%s)) AS taken",
                (NS_STACK, stack),
            ).fetchone()
            if row and row["taken"]:
                return
            if time.monotonic() >= deadline:
                raise self._held_error(conn, stack, wait)
            time.sleep(_POLL_S)

    def _held_error(self, conn: psycopg.Connection[Any], stack: str, wait: float) -> LockHeldError:
        holder = self._holder_settled(conn, stack)
        where = f"lock held in the database {self.url.display}"
        return locking.held_error(stack, holder, wait, where, unknown="another replica")

    def _holder_settled(self, conn: psycopg.Connection[Any], stack: str) -> LockHolder | None:
        # The holder writes its details right after locking: give it a moment.
        for _ in range(5):
            row = conn.execute(
                "SELECT host, pid, since, run_id FROM stack_lock_holders WHERE stack = %s",
                (stack,),
            ).fetchone()
            if row is not None:
                since = row["since"].astimezone(UTC).isoformat(timespec="seconds")
                return LockHolder(stack, row["pid"], row["host"], since, row["run_id"])
            time.sleep(0.02)
        return None


class _PostgresLock:
    """A held advisory lock and its holder row."""

    def __init__(
        self,
        locks: PostgresStackLocks,
        conn: psycopg.Connection[Any],
        stack: str,
        run_id: str | None,
    ) -> None:
        self._hold_id = uuid.uuid4().hex
        now = datetime.now(UTC)
        self.holder = LockHolder(
            stack, os.getpid(), socket.gethostname(), now.isoformat(timespec="seconds"), run_id
        )
        self.lost = threading.Event()
        self.watched = Watched(conn, self.lost)
        conn.execute(
            "INSERT INTO stack_lock_holders "
            "(stack, hold_id, owner_token, host, pid, since, run_id) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (stack) DO UPDATE SET "
            "hold_id = excluded.hold_id, owner_token = excluded.owner_token, "
            "host = excluded.host, pid = excluded.pid, since = excluded.since, "
            "run_id = excluded.run_id",
            (
                stack,
                self._hold_id,
                locks.owner_token,
                self.holder.host,
                self.holder.pid,
                now,
                run_id,
            ),
        )

    def update(self, *, run_id: str | None) -> None:
        self.holder = replace(self.holder, run_id=run_id)
        # The row only informs a message: a broken connection is the watchdog's news
        # (lost), not a reason to fail the operation here.
        with self.watched.lock:
            try:
                self.watched.conn.execute(
                    "UPDATE stack_lock_holders SET run_id = %s WHERE stack = %s AND hold_id = %s",
                    (run_id, self.holder.stack, self._hold_id),
                )
            except Exception:
                self.lost.set()

    def release(self) -> None:
        with self.watched.lock:
            self.watched.closed = True
            conn = self.watched.conn
            if conn.closed or conn.broken:
                return  # the server dropped the session, and the lock with it
            try:
                conn.execute(
                    "DELETE FROM stack_lock_holders WHERE stack = %s AND hold_id = %s",
                    (self.holder.stack, self._hold_id),
                )
                conn.execute(
                    "SELECT pg_advisory_unlock(%s, hashtext(%s))",
                    (NS_STACK, self.holder.stack),
                )
            except Exception:
                pass  # closing the connection (the caller does) ends the session's locks
