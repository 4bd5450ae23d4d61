"""Which stacks a commit changes compared with another one, from the daemon's mirror.

Stacks are applied at different commits (one may have failed, one may be held), so each
is compared with its own last applied commit. Results and old manifests are cached: a
pass over many stacks sharing a base costs one diff.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path

from infra_gitops import config, discovery, git
from infra_gitops.errors import GitOpsError
from infra_gitops.leftovers import owned_name

_CACHE_LIMIT = 256


class ChangeIndex:
    def __init__(self, mirror_path: Path, scratch_dir: Path) -> None:
        self._mirror = mirror_path
        self._scratch = scratch_dir
        self._lock = threading.Lock()
        self._touched: dict[tuple[str, str], frozenset[str]] = {}
        self._manifests: dict[str, config.Manifest | None] = {}

    def touched(
        self, head_manifest: config.Manifest, base: str | None, head: str
    ) -> frozenset[str]:
        """Stacks of head_manifest that differ between base and head, with dependents.

        base None (never applied) or a base the mirror does not have: every stack.
        """
        every = frozenset(head_manifest.names)
        if base is None:
            return every
        if base == head:
            return frozenset()
        with self._lock:
            if (base, head) in self._touched:
                return self._touched[(base, head)]
            try:
                with git.open_repo(self._mirror) as repo:
                    paths = git.changed_paths(repo, base, head)
            except GitOpsError:
                return every
            old = self.manifest_at(base) if config.MANIFEST_NAME in paths else None
            result = frozenset(discovery.affected_stacks(head_manifest, paths, old))
            if len(self._touched) > _CACHE_LIMIT:
                self._touched.clear()
            self._touched[(base, head)] = result
            return result

    def manifest_at(self, sha: str) -> config.Manifest | None:
        if sha not in self._manifests:
            self._scratch.mkdir(parents=True, exist_ok=True)
            dest = Path(tempfile.mkdtemp(prefix=owned_name("manifest-"), dir=self._scratch))
            try:
                with git.open_repo(self._mirror) as repo:
                    git.export_commit(repo, sha, dest / "tree")
                self._manifests[sha] = config.load_manifest(dest / "tree")
            except GitOpsError:
                self._manifests[sha] = None
            finally:
                shutil.rmtree(dest, ignore_errors=True)
        return self._manifests[sha]
