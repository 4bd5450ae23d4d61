"""The daemon's own copy of the infra repo: a bare mirror under the state dir.

The remote (a URL or a path) is fetched into <state_dir>/daemon/repo.git; the user's
checkout is never touched. Its credentials stay out of the mirror's config and of git's
command lines (see git.Remote): the config holds the URL without them. Sources are
exported from the mirror one commit at a time.
A failed fetch is retried with exponential backoff; between polls, a remote that keeps
failing is tried less and less often (up to MAX_BACKOFF_S), so a dead remote costs
little while the daemon keeps serving and says how stale it is.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from infra_gitops.errors import GitError
from infra_gitops.git import (
    GitRepo,
    Remote,
    fetch_branch,
    has_commit,
    open_mirror,
    remote_for,
)
from infra_gitops.git import display_url as display_url  # where the daemon has it from

MIRROR_DIR = "daemon/repo.git"
FETCH_TIMEOUT_S = 120
MAX_BACKOFF_S = 300.0


@dataclass(frozen=True)
class FetchState:
    """What readiness reports about the remote."""

    last_success: float | None
    """Unix time of the last fetch that worked."""
    last_attempt: float | None
    last_ok: bool
    last_error: str | None
    consecutive_failures: int
    head: str | None
    """The branch tip after the last successful fetch."""


def mirror_path(state_dir: Path) -> Path:
    return state_dir / MIRROR_DIR


class Mirror:
    """The bare mirror of one branch of the remote (thread-safe)."""

    def __init__(
        self,
        state_dir: Path,
        url: str,
        branch: str,
        *,
        token_file: Path | None = None,
        attempts: int = 3,
        base_delay: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.path = mirror_path(state_dir)
        self.remote: Remote = remote_for(url, token_file=token_file)
        self.url = self.remote.url
        """Without credentials: safe in the config, the logs and /readyz."""
        self.branch = branch
        self._attempts = attempts
        self._base_delay = base_delay
        self._sleep = sleep
        self._lock = threading.Lock()
        self._state = FetchState(None, None, False, None, 0, None)
        self._next_try = 0.0

    @property
    def state(self) -> FetchState:
        return self._state

    def open(self) -> GitRepo:
        """The mirror repo, created (empty, bare) on first use; origin set to the url."""
        return open_mirror(self.path, self.url, self.branch)

    def fetch(self, *, poll_interval: float, force: bool = False) -> str | None:
        """Fetch the branch; its tip after a success, else None (see state).

        While the remote keeps failing, calls return None without trying until the
        backoff has passed (force, e.g. a webhook, tries anyway).
        """
        with self._lock:
            now = time.time()
            if not force and now < self._next_try:
                return None
            try:
                head = self._fetch_with_retries()
            except GitError as exc:
                failures = self._state.consecutive_failures + 1
                backoff = min(poll_interval * 2 ** (failures - 1), MAX_BACKOFF_S)
                self._next_try = time.time() + backoff
                self._state = FetchState(
                    self._state.last_success, now, False, str(exc), failures, self._state.head
                )
                return None
            self._next_try = 0.0
            self._state = FetchState(time.time(), now, True, None, 0, head)
            return head

    def has_commit(self, sha: str) -> bool:
        with self.open() as repo:
            return has_commit(repo, sha)

    def ensure_commit(self, sha: str, *, poll_interval: float) -> None:
        """Have commit sha (another replica fetched it): fetch the branch when missing;
        a GitError when the branch does not hold it (force-pushed away, or no fetch)."""
        if self.has_commit(sha):
            return
        self.fetch(poll_interval=poll_interval, force=True)
        if not self.has_commit(sha):
            error = self._state.last_error or f"branch {self.branch} does not hold it"
            raise GitError(f"commit {sha[:10]} is not in the mirror: {error}")

    def _fetch_with_retries(self) -> str:
        last: GitError | None = None
        for attempt in range(self._attempts):
            if attempt:
                self._sleep(self._base_delay * 2 ** (attempt - 1))
            try:
                return self._fetch_once()
            except GitError as exc:
                last = exc
        assert last is not None
        raise last

    def _fetch_once(self) -> str:
        with self.open() as repo:
            return fetch_branch(repo, self.remote, self.branch, timeout=FETCH_TIMEOUT_S)
