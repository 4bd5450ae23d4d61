"""The source a command works on: a private snapshot of the repo at one commit.

Engines write override files and working data next to the stack's code, so they never
get the user's checkout: either a copy of the working tree (the CLI default, so people
can plan what they are editing; the commit is then marked dirty when it has changes) or
exactly one commit's tree (--ref).
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from infra_gitops import git
from infra_gitops.leftovers import owned_name
from infra_gitops.models import Commit


@dataclass(frozen=True)
class Source:
    root: Path
    """Root of the snapshot: the manifest is at root / "gitops.yaml"."""
    commit: Commit
    repo_path: Path
    """The user's repo the snapshot was taken from (for messages and work-dir keys)."""


@contextmanager
def open_source(repo_path: Path, ref: str | None, state_dir: Path) -> Iterator[Source]:
    """Snapshot the repo (its working tree, or `ref`) under the state dir; removed on exit."""
    # Named after this process: a copy left by a killed one is swept at the next start.
    dest = state_dir / "snapshots" / owned_name(uuid.uuid4().hex[:12])
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with git.open_repo(repo_path) as repo:
            commit = git.resolve_commit(repo, ref) if ref else git.head_commit(repo)
            if ref:
                git.export_commit(repo, commit.sha, dest)
            else:
                git.snapshot_worktree(repo, dest)
        yield Source(root=dest, commit=commit, repo_path=Path(repo_path).resolve())
    finally:
        shutil.rmtree(dest, ignore_errors=True)
