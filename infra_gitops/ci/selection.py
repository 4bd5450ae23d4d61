"""Which stacks a pull request affects: its diff from the merge base, both manifests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from infra_gitops import config, discovery, git
from infra_gitops.errors import BadSourceError, GitOpsError


@dataclass(frozen=True)
class Selection:
    base_sha: str
    """The merge base of the base ref and head: where the pull request's diff starts."""
    head_sha: str
    changed_paths: tuple[str, ...]
    stacks: tuple[str, ...]
    """Affected stacks, in manifest order: touched ones and their dependents."""
    base_manifest: config.Manifest | None
    """The manifest at the merge base (its root is base_dir); None when the base had
    none or an invalid one (then a changed gitops.yaml touches every stack)."""


def select_stacks(
    repo_path: Path, base_ref: str, head_sha: str, head_manifest: config.Manifest, base_dir: Path
) -> Selection:
    """The stacks of head_manifest that the diff merge-base(base_ref, head)..head affects.

    The merge base's tree is exported into base_dir (absent or empty; the caller removes
    it) to read its manifest and, later, its policies.
    """
    with git.open_repo(repo_path) as repo:
        base_sha = git.merge_base(repo, base_ref, head_sha)
        changed = git.changed_paths(repo, base_sha, head_sha)
        old_manifest = _manifest_at(repo, base_sha, base_dir)
    affected = discovery.affected_stacks(head_manifest, changed, old_manifest)
    return Selection(
        base_sha=base_sha,
        head_sha=head_sha,
        changed_paths=tuple(changed),
        stacks=tuple(name for name in head_manifest.names if name in affected),
        base_manifest=old_manifest,
    )


def _manifest_at(repo: git.GitRepo, sha: str, dest: Path) -> config.Manifest | None:
    """The manifest as of commit sha; None when it has none or an invalid one, or when the
    commit's files cannot be used (a pull request fixing a bad base must still plan)."""
    try:
        git.export_commit(repo, sha, dest)
    except BadSourceError:
        return None
    try:
        return config.load_manifest(dest)
    except GitOpsError:
        return None
