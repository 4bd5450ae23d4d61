"""The audit trail in Git: one line per apply or drift result, as a git note on its
commit under refs/notes/infra-gitops, so `git log --notes=infra-gitops` shows what every
commit did to the cloud with no server.

Notes are written in the daemon's mirror and, when asked, pushed to the remote. A push
that loses a race with another writer merges the remote's notes first (cat_sort_uniq:
both sides' lines kept). A note that cannot be written is reported, never raised into
the reconcile loop: the run records are the source of truth.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infra_gitops import git
from infra_gitops.errors import GitError
from infra_gitops.models import Run, unexpected

log = logging.getLogger(__name__)

NOTES_REF = "refs/notes/infra-gitops"
_REMOTE_COPY = "refs/notes/infra-gitops-remote"
_IDENTITY = {
    "GIT_AUTHOR_NAME": "infra-gitops",
    "GIT_AUTHOR_EMAIL": "infra-gitops@localhost",
    "GIT_COMMITTER_NAME": "infra-gitops",
    "GIT_COMMITTER_EMAIL": "infra-gitops@localhost",
}


def note_line(run: Run, extra: Mapping[str, Any] | None = None) -> str:
    """One line of JSON about a finished run (no secrets: counts and addresses only)."""
    record: dict[str, Any] = {
        "run": run.id,
        "stack": run.stack,
        "kind": str(run.kind),
        "status": str(run.status),
        "trigger": run.trigger,
        "at": run.finished_at or run.started_at,
        "changes": run.counts.to_dict(),
    }
    if unexpected(run.drift):
        record["drift"] = sorted({c.address for c in unexpected(run.drift)})
    if run.error:
        record["error"] = run.error.splitlines()[0][:300]
    record.update(extra or {})
    return json.dumps(record, sort_keys=True)


class GitNotes:
    """Appends notes in one repo (the mirror), optionally pushing them to origin."""

    def __init__(
        self, repo_path: Path, *, push: bool, push_env: Mapping[str, str] | None = None
    ) -> None:
        self.repo_path = repo_path
        self.push_enabled = push
        # The remote's credentials (git.Remote.env): origin's URL holds none.
        self._push_env = dict(push_env or {})
        self._lock = threading.Lock()  # git notes updates one ref: one writer at a time

    def append(self, sha: str, line: str) -> bool:
        """Add line to the note of commit sha; True when written (and pushed, if asked)."""
        with self._lock:
            try:
                git.append_note(self.repo_path, NOTES_REF, sha, line, _IDENTITY)
            except GitError as exc:
                log.warning("cannot write the git note on %s: %s", sha[:10], exc)
                return False
            return self._push() if self.push_enabled else True

    def read(self, sha: str) -> list[str]:
        """The lines of the note on sha (empty when none)."""
        text = git.read_note(self.repo_path, NOTES_REF, sha)
        return [line for line in text.splitlines() if line.strip()]

    def _push(self) -> bool:
        for _ in range(3):
            try:
                git.push_ref(self.repo_path, NOTES_REF, self._push_env)
                return True
            except GitError as exc:
                error = str(exc)
            # Rejected (another writer pushed notes): merge theirs, try again.
            if not self._merge_remote():
                break
        log.warning("cannot push git notes to origin: %s", error)
        return False

    def _merge_remote(self) -> bool:
        try:
            git.merge_remote_notes(
                self.repo_path, NOTES_REF, _REMOTE_COPY, self._push_env, _IDENTITY
            )
        except GitError as exc:
            log.warning("cannot merge the remote's git notes: %s", exc)
            return False
        return True
