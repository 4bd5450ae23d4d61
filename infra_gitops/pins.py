"""The trees pinned environments are taken from.

An instance pinned to a commit (`environments[].revision`) runs the stack's directory and
its local modules as that commit has them, with the settings of the manifest being
applied. Each pinned commit is exported once per view, on first use, next to the view's
own snapshot, and removed with it.
"""

from __future__ import annotations

import threading
from contextlib import ExitStack
from pathlib import Path

from infra_gitops import git
from infra_gitops.errors import ConfigError, GitOpsError
from infra_gitops.models import Stack
from infra_gitops.source import Source, open_source


class PinnedTrees:
    """The exports of the commits a view's pinned instances use (thread-safe)."""

    def __init__(self, repo: Path, state_dir: Path) -> None:
        self._repo = repo
        self._state_dir = state_dir
        self._sources: dict[str, Source] = {}
        self._lock = threading.Lock()
        self._closer = ExitStack()

    def source_for(self, stack: Stack, unpinned: Source) -> Source:
        """Where stack's code comes from: its pinned commit's tree, else unpinned."""
        if stack.revision is None or stack.revision == unpinned.commit.sha:
            return unpinned
        with self._lock:
            found = self._sources.get(stack.revision)
            if found is None:
                found = self._export(stack, unpinned.commit.sha)
                self._sources[stack.revision] = found
        if not (found.root / stack.path).is_dir():
            raise ConfigError(
                f"stack {stack.name}: {stack.path} does not exist at its pinned revision "
                f"{stack.revision[:10]} ({found.commit.subject!r})"
            )
        return found

    def close(self) -> None:
        with self._lock:
            self._sources.clear()
            self._closer.close()

    def _export(self, stack: Stack, head: str) -> Source:
        assert stack.revision is not None
        try:
            with git.open_repo(self._repo) as repo:
                git.resolve_commit(repo, stack.revision)
                in_history = git.is_ancestor(repo, stack.revision, head)
        except GitOpsError:
            raise ConfigError(
                f"stack {stack.name}: its pinned revision {stack.revision} is not a commit "
                f"of {self._repo}"
            ) from None
        if not in_history:
            # A pin outside the branch's history would run code nobody merged.
            raise ConfigError(
                f"stack {stack.name}: its pinned revision {stack.revision[:10]} is not in "
                f"the history of {head[:10]}: pin a commit of the branch"
            )
        return self._closer.enter_context(open_source(self._repo, stack.revision, self._state_dir))
