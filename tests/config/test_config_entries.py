"""Declared and discovered stacks and their directories (entries.py, directories.py)."""

from __future__ import annotations

import os
from pathlib import Path

from config_helpers import make_repo, problems

from infra_gitops.config import load_manifest
from infra_gitops.models import Policy, Stack


def test_duplicate_stack_names(tmp_path: Path) -> None:
    make_repo(
        tmp_path,
        """
        version: 1
        stacks:
          - name: app
            path: a
          - name: app
            path: b
    """,
        ("a", "b"),
    )

    assert problems(tmp_path) == [
        "gitops.yaml:5: stacks[1].name: duplicate stack name 'app' (also stacks[0] at line 3)"
    ]


def test_path_with_a_nul_byte(tmp_path: Path) -> None:
    make_repo(
        tmp_path,
        """
        version: 1
        stacks:
          - {name: a, path: "a\\0"}
    """,
    )

    assert problems(tmp_path) == [
        "gitops.yaml:3: stacks[0].path: path 'a\\x00' contains a NUL character"
    ]


def test_stack_paths_must_be_directories_inside_the_repo(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    make_repo(
        repo,
        """
        version: 1
        stacks:
          - {name: missing, path: stacks/nope}
          - {name: file, path: README.md}
          - {name: up, path: ../elsewhere}
          - {name: sneaky, path: stacks/link}
          - {name: absolute, path: /etc}
          - {name: fine, path: stacks/../stacks/ok}
    """,
        ("stacks/ok",),
    )
    (repo / "README.md").write_text("hi\n")
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", repo / "stacks" / "link")

    assert problems(repo) == [
        f"gitops.yaml:3: stacks[0].path: path 'stacks/nope' does not exist: expected a "
        f"directory relative to the repository root {repo}",
        "gitops.yaml:4: stacks[1].path: path 'README.md' is not a directory",
        f"gitops.yaml:5: stacks[2].path: path '../elsewhere' is outside the repository "
        f"(paths are relative to {repo})",
        f"gitops.yaml:6: stacks[3].path: path 'stacks/link' is outside the repository "
        f"(paths are relative to {repo})",
        "gitops.yaml:7: stacks[4].path: expected a path relative to the repository root, "
        "not an absolute path, got '/etc'",
    ]


def test_paths_are_normalized(tmp_path: Path) -> None:
    make_repo(
        tmp_path,
        """
        version: 1
        stacks:
          - {name: a, path: ./stacks//a/}
          - {name: b, path: stacks/x/../b}
          - {name: root, path: .}
    """,
        ("stacks/a", "stacks/b"),
    )

    assert [s.path for s in load_manifest(tmp_path).stacks] == ["stacks/a", "stacks/b", "."]


def test_discovery_by_glob(tmp_path: Path) -> None:
    make_repo(
        tmp_path,
        """
        version: 1
        defaults:
          policy: {drift_interval: 1m}
        stacks:
          - name: declared
            path: stacks/one
            engine: tofu
        discover:
          - glob: "stacks/*"
            policy: {auto_apply: true}
          - glob: "programs/*"
            engine: pulumi
            env: {PULUMI_CONFIG_PASSPHRASE: ""}
    """,
        ("stacks/one", "stacks/Web.App", "stacks/.hidden"),
    )
    (tmp_path / "stacks" / "no-tf-files").mkdir()
    (tmp_path / "stacks" / "a-file.tf").write_text("")
    (tmp_path / "programs" / "dns").mkdir(parents=True)
    (tmp_path / "programs" / "dns" / "Pulumi.yaml").write_text("name: dns\n")
    (tmp_path / "programs" / "tf-only").mkdir()
    (tmp_path / "programs" / "tf-only" / "main.tf").write_text("")

    stacks = load_manifest(tmp_path).stacks

    assert stacks == (
        Stack(name="declared", path="stacks/one", engine="tofu", policy=Policy(60)),
        Stack(name="web-app", path="stacks/Web.App", policy=Policy(60, auto_apply=True)),
        Stack(
            name="dns",
            path="programs/dns",
            engine="pulumi",
            policy=Policy(60),
            env={"PULUMI_CONFIG_PASSPHRASE": ""},
        ),
    )


def test_discovered_name_clashing_with_a_declared_one(tmp_path: Path) -> None:
    make_repo(
        tmp_path,
        """
        version: 1
        stacks:
          - name: app
            path: legacy/app
        discover:
          - glob: "stacks/*"
    """,
        ("legacy/app", "stacks/app"),
    )

    assert problems(tmp_path) == [
        "gitops.yaml:6: discover[0].glob: discovered stack 'app' at stacks/app clashes with "
        "stack 'app' declared at stacks[0] (line 3) for legacy/app; declare one of them "
        "under 'stacks' with another name"
    ]


def test_discovered_names_clashing_with_each_other(tmp_path: Path) -> None:
    make_repo(
        tmp_path,
        """
        version: 1
        discover:
          - glob: "*/app"
    """,
        ("one/app", "two/app"),
    )

    assert problems(tmp_path) == [
        "gitops.yaml:3: discover[0].glob: discovered stack 'app' at two/app clashes with "
        "stack 'app' discovered at discover[0] (line 3) for one/app; declare one of them "
        "under 'stacks' with another name"
    ]


def test_discovered_stacks_can_be_referenced(tmp_path: Path) -> None:
    make_repo(
        tmp_path,
        """
        version: 1
        stacks:
          - name: app
            path: app
            depends_on: [network]
        discover:
          - glob: "infra/*"
    """,
        ("app", "infra/network"),
    )

    manifest = load_manifest(tmp_path)

    assert manifest.names == ("app", "network")
    assert manifest.stack("app").depends_on == ("network",)


def test_discover_glob_outside_the_repo(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "repo",
        """
        version: 1
        discover:
          - glob: "../*"
    """,
    )
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "main.tf").write_text("")

    assert problems(repo) == [
        "gitops.yaml:3: discover[0].glob: glob matches directories outside the repository: ../other"
    ]
