"""Which stacks a commit changes, read from the daemon's mirror (a real Git repo)."""

from __future__ import annotations

import time
from pathlib import Path

from daemon_helpers import git

from infra_gitops import config
from infra_gitops.daemon.changes import ChangeIndex

COUNT = 2_000


def _commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@x", "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def test_a_commit_changing_thousands_of_stacks_is_read_in_one_diff(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    lines = ["version: 1", "stacks:"]
    for i in range(COUNT):
        (repo / "stacks" / f"s{i}").mkdir(parents=True)
        uses_module = 'module "m" {\n  source = "../../modules/tags"\n}\n' if i % 500 == 0 else ""
        (repo / "stacks" / f"s{i}" / "main.tf").write_text(uses_module)
        lines += [f"  - name: s{i}", f"    path: stacks/s{i}"]
    (repo / "modules" / "tags").mkdir(parents=True)
    (repo / "modules" / "tags" / "main.tf").write_text("")
    (repo / "gitops.yaml").write_text("\n".join(lines) + "\n")
    git(repo, "init", "-q", "-b", "main")
    base = _commit(repo, "stacks")
    (repo / "modules" / "tags" / "main.tf").write_text("# tags\n")
    module_change = _commit(repo, "a shared module")
    for i in range(COUNT):
        main = repo / "stacks" / f"s{i}" / "main.tf"
        main.write_text("# formatted\n" + main.read_text())
    everything = _commit(repo, "a formatter over every stack")
    manifest = config.load_manifest(repo)
    index = ChangeIndex(repo, tmp_path / "scratch")

    started = time.perf_counter()
    every_stack = index.touched(manifest, module_change, everything)
    elapsed = time.perf_counter() - started

    assert every_stack == frozenset(manifest.names)
    assert elapsed < 10, f"{elapsed:.1f} s"  # a guard against a quadratic scan only
    assert index.touched(manifest, base, module_change) == {"s0", "s500", "s1000", "s1500"}
    assert index.touched(manifest, everything, everything) == frozenset()
    assert index.touched(manifest, "0" * 40, everything) == frozenset(manifest.names)
