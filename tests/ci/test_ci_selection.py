"""Which stacks a pull request affects (real git repos), and the stack fingerprint."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

from infra_gitops import config
from infra_gitops.ci.fingerprint import stack_fingerprint
from infra_gitops.ci.selection import select_stacks

MANIFEST = """\
version: 1
stacks:
  - {name: net, path: stacks/net}
  - {name: app, path: stacks/app, depends_on: [net]}
  - {name: other, path: stacks/other}
"""


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=T", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def _write(repo: Path, rel: str, text: str) -> None:
    (repo / rel).parent.mkdir(parents=True, exist_ok=True)
    (repo / rel).write_text(text)


def _commit(repo: Path, message: str) -> str:
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", message)
    return _git(repo, "rev-parse", "HEAD")


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "--initial-branch=main")
    _write(repo, "gitops.yaml", MANIFEST)
    _write(repo, "stacks/net/main.tf", 'module "vpc" {\n  source = "../../modules/vpc"\n}\n')
    _write(repo, "modules/vpc/main.tf", "# vpc\n")
    _write(repo, "stacks/app/main.tf", "# app\n")
    _write(repo, "stacks/other/main.tf", "# other\n")
    _commit(repo, "init")
    return repo


def _select(repo: Path, head: str, tmp_path: Path, base: str = "main") -> tuple[str, ...]:
    manifest = config.load_manifest(repo)
    return select_stacks(repo, base, head, manifest, tmp_path / "base").stacks


def test_a_module_change_selects_its_stack_and_dependents_only(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    _git(repo, "checkout", "-q", "-b", "feature")
    _write(repo, "modules/vpc/main.tf", "# vpc v2\n")
    head = _commit(repo, "vpc v2")
    assert _select(repo, head, tmp_path) == ("net", "app")


def test_later_commits_on_main_are_not_part_of_the_pull_request(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    _git(repo, "checkout", "-q", "-b", "feature")
    _write(repo, "stacks/app/main.tf", "# app v2\n")
    head = _commit(repo, "app v2")
    _git(repo, "checkout", "-q", "main")
    _write(repo, "stacks/other/main.tf", "# other v2\n")
    _commit(repo, "other v2 on main")
    # Compared with main's tip, `other` would look changed; from the merge base it is not.
    assert _select(repo, head, tmp_path) == ("app",)


def test_a_manifest_entry_change_selects_that_stack(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    _git(repo, "checkout", "-q", "-b", "feature")
    _write(
        repo,
        "gitops.yaml",
        MANIFEST.replace("path: stacks/other}", "path: stacks/other, tags: [prod]}"),
    )
    head = _commit(repo, "tag other")
    assert _select(repo, head, tmp_path) == ("other",)


def test_a_pull_request_fixing_a_base_whose_files_are_refused_still_plans(
    tmp_path: Path,
) -> None:
    repo = _repo(tmp_path)
    (repo / "stacks" / "other" / "leak.tf").symlink_to("/etc/hostname")
    _commit(repo, "A symlink out of the repo reaches main")
    _git(repo, "checkout", "-q", "-b", "feature")
    (repo / "stacks" / "other" / "leak.tf").unlink()
    head = _commit(repo, "Remove it")

    # The base cannot be exported: as with an invalid base manifest, nothing to compare.
    assert _select(repo, head, tmp_path) == ("other",)


def test_fingerprint_covers_code_modules_and_entry_but_not_engine_files(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    net = config.load_manifest(repo).stack("net")
    before = stack_fingerprint(repo, net)
    _write(repo, "stacks/net/infra_gitops_sandbox_override.tf", "# written by the engine\n")
    _write(repo, "stacks/net/.terraform/x", "cache")
    _write(repo, "stacks/other/main.tf", "# unrelated\n")
    assert stack_fingerprint(repo, net) == before
    assert stack_fingerprint(repo, replace(net, variables={"x": 1})) != before
    _write(repo, "modules/vpc/main.tf", "# changed module\n")
    assert stack_fingerprint(repo, net) != before
