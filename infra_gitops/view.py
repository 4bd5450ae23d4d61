"""The per-commit view: one commit's exported tree and its parsed manifest.

A CLI command opens one view for its duration (open_view). The daemon keeps a few in a
ViewCache keyed by SHA, so that a commit is exported and parsed once and shared by the
reconcile pass and every drift check on it; an export is removed once no operation uses
it and it is no longer among the few most recently used. Exports are named after the
process that made them (leftovers.owned_name): the sweep of another process never
removes a live daemon's.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from infra_gitops import config, discovery
from infra_gitops.models import Stack
from infra_gitops.pins import PinnedTrees
from infra_gitops.source import Source, open_source


@dataclass(frozen=True)
class View:
    source: Source
    """The commit's private snapshot (its tree) and the commit itself."""
    manifest: config.Manifest
    """The commit's gitops.yaml, parsed (stacks, dependencies, policies, windows)."""
    pinned: PinnedTrees | None = None
    """The trees of the commits its pinned environments use (pins.py)."""

    def source_of(self, stack: Stack) -> Source:
        """Where stack's code is: the commit's tree, or its pinned commit's."""
        return self.source if self.pinned is None else self.pinned.source_for(stack, self.source)

    def selected(
        self, names: tuple[str, ...] | list[str], *, with_dependencies: bool
    ) -> list[Stack]:
        """The stacks named (all when none are), in manifest order. A name may be a
        glob, or a stack with environments (all its instances): see stacknames."""
        if not names:
            return list(self.manifest.stacks)
        wanted = {stack.name for name in names for stack in self.manifest.matching(name)}
        if with_dependencies:
            wanted = discovery.with_dependencies(self.manifest.stacks, wanted)
        return [s for s in self.manifest.stacks if s.name in wanted]


@contextmanager
def open_view(repo: Path, ref: str | None, state_dir: Path) -> Iterator[View]:
    """Snapshot the repo (its working tree, or ref) and load its manifest; removed on exit.

    Raises ConfigError (the manifest) or BadSourceError (the files) for a commit that
    cannot be used, with nothing left behind.
    """
    with open_source(repo, ref, state_dir) as source:
        pinned = PinnedTrees(repo, state_dir)
        try:
            yield View(source, config.load_manifest(source.root), pinned)
        finally:
            pinned.close()


@dataclass
class _Entry:
    loading: threading.Lock = field(default_factory=threading.Lock)
    view: View | None = None
    users: int = 0
    closer: ExitStack = field(default_factory=ExitStack)


class ViewCache:
    """Views of commits of one repo by SHA, each exported and parsed once (thread-safe).

    A view in use is never removed; of those not in use, the `keep` most recently used
    stay (the head, and the commits stacks were last applied at, are read again and
    again by drift checks).
    """

    def __init__(self, repo: Path, state_dir: Path, *, keep: int = 4) -> None:
        self._repo = repo
        self._state_dir = state_dir
        self._keep = keep
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self.exports = 0
        """How many commits were exported and parsed (each miss)."""

    @contextmanager
    def view(self, sha: str) -> Iterator[View]:
        """The view of commit sha for the block (exported and parsed on first use)."""
        with self._lock:
            entry = self._entries.setdefault(sha, _Entry())
            self._entries.move_to_end(sha)
            entry.users += 1
        try:
            yield self._loaded(sha, entry)
        finally:
            with self._lock:
                entry.users -= 1
                if self._entries.get(sha) is entry:
                    self._entries.move_to_end(sha)  # used until now: the most recent
                stale = self._evict()
            for old in stale:
                old.closer.close()

    def close(self) -> None:
        with self._lock:
            entries, self._entries = list(self._entries.values()), OrderedDict()
        for entry in entries:
            entry.closer.close()

    def _loaded(self, sha: str, entry: _Entry) -> View:
        # One export per commit even when several checks ask for it at once; a commit
        # that cannot be used is not kept (each use reports it again).
        with entry.loading:
            if entry.view is None:
                try:
                    entry.view = entry.closer.enter_context(
                        open_view(self._repo, sha, self._state_dir)
                    )
                    self.exports += 1
                except BaseException:
                    with self._lock:
                        if self._entries.get(sha) is entry and entry.users <= 1:
                            del self._entries[sha]
                    raise
            return entry.view

    def _evict(self) -> list[_Entry]:
        """Entries to close: unused ones beyond the `keep` most recent (under _lock)."""
        unused = [sha for sha, e in self._entries.items() if e.users == 0]
        stale = unused[: max(0, len(unused) - self._keep)]
        return [self._entries.pop(sha) for sha in stale]
