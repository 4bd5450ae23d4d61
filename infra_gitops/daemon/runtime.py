"""The daemon's shared moving parts: settings, the per-stack guard, in-flight tracking
(for draining) and the progress sink that writes to the log."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from infra_gitops.postgres import DatabaseUrl
from infra_gitops.progress import Progress

log = logging.getLogger("infra_gitops.daemon")


@dataclass(frozen=True)
class Settings:
    state_dir: Path
    repo: str
    """The remote: a URL or a path."""
    repo_token_file: Path | None = None
    """A file holding the remote's token (else $INFRA_GITOPS_GIT_TOKEN, or the URL's)."""
    branch: str = "main"
    poll_interval: float = 60.0
    drift_interval: float | None = None
    """Overrides every stack's policy.drift_interval when set."""
    parallelism: int = 2
    grace_period: float = 300.0
    timeout: float = 1800.0
    """Limit of each engine command."""
    lock_wait: float = 60.0
    """How long an apply waits for a stack another run holds (a drift check never waits)."""
    push_notes: bool = False
    stale_after: float | None = None
    """Readiness fails when the last successful fetch is older (default: 3 polls, >= 30 s)."""
    database_url: DatabaseUrl | None = None
    """Run as one of several replicas sharing this PostgreSQL database (None: embedded)."""
    artifact_store: str | None = None
    """Where a replica keeps plans and logs: "database" (its default) or s3://BUCKET/PREFIX."""

    @property
    def staleness_limit(self) -> float:
        if self.stale_after is not None:
            return self.stale_after
        return max(3 * self.poll_interval, 30.0)


class StackGuard:
    """One operation per stack at a time inside this daemon, in front of the stack lock
    (which guards across processes): a drift check decides which commit to check only
    once no apply of the stack can run meanwhile."""

    def __init__(self) -> None:
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    @contextmanager
    def hold(self, stack: str, *, blocking: bool = True) -> Iterator[bool]:
        with self._lock:
            lock = self._locks.setdefault(stack, threading.Lock())
        got = lock.acquire(blocking=blocking)
        try:
            yield got
        finally:
            if got:
                lock.release()


class InFlight:
    """Counts running operations; once draining, no new one starts."""

    def __init__(self) -> None:
        self._count = 0
        self._draining = False
        self._cond = threading.Condition()

    @property
    def draining(self) -> bool:
        return self._draining

    @property
    def count(self) -> int:
        return self._count

    @contextmanager
    def run(self) -> Iterator[bool]:
        """Yields False (and runs nothing) once draining."""
        with self._cond:
            if self._draining:
                allowed = False
            else:
                allowed = True
                self._count += 1
        try:
            yield allowed
        finally:
            if allowed:
                with self._cond:
                    self._count -= 1
                    self._cond.notify_all()

    def drain(self, timeout: float) -> bool:
        """Stop new operations; wait up to timeout for running ones. True when idle."""
        with self._cond:
            self._draining = True
            return self._cond.wait_for(lambda: self._count == 0, timeout=timeout)


class LogProgress(Progress):
    """Engine progress lines as log records (so --log-format json covers them too)."""

    def __init__(self) -> None:
        super().__init__(enabled=False)

    def say(self, message: str) -> None:
        log.info(message, extra={"event": "progress"})
