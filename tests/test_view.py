"""The daemon's cache of commit views: each commit exported and parsed once, a view in
use never removed, the few most recent kept, the rest removed from disk; a commit that
cannot be used is reported at each use and leaves nothing behind."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import git as gitpython
import pytest

from infra_gitops import config, leftovers
from infra_gitops.view import ViewCache

MANIFEST = "version: 1\nstacks:\n  - name: {name}\n    path: stacks/{name}\n    engine: terraform\n"


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[gitpython.Repo]:
    repo = gitpython.Repo.init(tmp_path / "infra")
    with repo.config_writer() as cfg:
        cfg.set_value("user", "name", "Ada Lovelace")
        cfg.set_value("user", "email", "ada@example.com")
        cfg.set_value("commit", "gpgsign", "false")
    yield repo
    repo.close()


def commit(repo: gitpython.Repo, name: str, manifest: str | None = None) -> str:
    root = Path(str(repo.working_tree_dir))
    (root / "stacks" / name).mkdir(parents=True, exist_ok=True)
    (root / "stacks" / name / "main.tf").write_text("# a stack\n")
    (root / "gitops.yaml").write_text(manifest or MANIFEST.format(name=name))
    repo.git.add("--all")
    repo.git.commit("-q", "-m", f"stack {name}")
    return repo.head.commit.hexsha


def snapshots(state_dir: Path) -> list[Path]:
    where = state_dir / "snapshots"
    return sorted(where.iterdir()) if where.exists() else []


def test_a_commit_is_exported_once_for_every_use_and_the_oldest_unused_go(
    repo: gitpython.Repo, tmp_path: Path
) -> None:
    state_dir = tmp_path / "state"
    shas = [commit(repo, f"s{i}") for i in range(4)]
    cache = ViewCache(Path(str(repo.working_tree_dir)), state_dir, keep=2)
    with cache.view(shas[0]) as first:
        with cache.view(shas[0]) as again:
            assert again is first
        assert first.manifest.names == ("s0",)
        assert first.source.commit.sha == shas[0]
        # In use: kept however many other commits come and go.
        for sha in shas[1:]:
            with cache.view(sha):
                pass
        assert first.source.root.is_dir()
        assert cache.exports == 4
    # Unused now: the two most recently used (s3, s0) stay, s1 and s2 are removed.
    assert len(snapshots(state_dir)) == 2
    with cache.view(shas[3]), cache.view(shas[0]):
        assert cache.exports == 4
    # Named after this (live) process: another process's sweep leaves them.
    assert leftovers.sweep(state_dir) == []
    cache.close()
    assert snapshots(state_dir) == []


def test_threads_asking_for_one_commit_at_once_share_one_export(
    repo: gitpython.Repo, tmp_path: Path
) -> None:
    sha = commit(repo, "net")
    cache = ViewCache(Path(str(repo.working_tree_dir)), tmp_path / "state")
    roots: list[Path] = []
    start = threading.Barrier(4)

    def use() -> None:
        start.wait()
        with cache.view(sha) as view:
            roots.append(view.source.root)

    threads = [threading.Thread(target=use) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert cache.exports == 1 and len(set(roots)) == 1
    cache.close()


def test_a_commit_with_a_bad_manifest_fails_each_time_and_leaves_nothing(
    repo: gitpython.Repo, tmp_path: Path
) -> None:
    state_dir = tmp_path / "state"
    bad = commit(repo, "net", manifest="version: 1\nstacks: [{name: 3}]\n")
    cache = ViewCache(Path(str(repo.working_tree_dir)), state_dir)
    for _ in range(2):
        with pytest.raises(config.ConfigError), cache.view(bad):
            pass
    assert cache.exports == 0
    assert snapshots(state_dir) == []
