"""The `backend_file` setting (backend_files.py): checked where it is written, built
into the Stack as a normalized repo-relative path."""

from __future__ import annotations

from pathlib import Path

from config_helpers import make_repo, problems

from infra_gitops.config import load_manifest

BACKEND = 'bucket = "state"\nkey = "a/terraform.tfstate"\n'


def test_a_backend_file_is_built_into_the_stack(tmp_path: Path) -> None:
    make_repo(
        tmp_path,
        """
        version: 1
        stacks:
          - name: a
            path: stacks/a
            backend_file: ./env/../env/a.tfbackend
          - name: b
            path: stacks/b
    """,
        ("stacks/a", "stacks/b"),
    )
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / "a.tfbackend").write_text(BACKEND)

    a, b = load_manifest(tmp_path).stacks
    assert a.backend_file == "env/a.tfbackend"
    assert b.backend_file is None


def test_a_missing_file_names_the_line(tmp_path: Path) -> None:
    make_repo(
        tmp_path,
        """
        version: 1
        stacks:
          - name: a
            path: a
            backend_file: env/missing.tfbackend
    """,
        ("a",),
    )

    (problem,) = problems(tmp_path)
    assert problem.startswith("gitops.yaml:5: stacks[0].backend_file: backend_file ")
    assert "'env/missing.tfbackend' does not exist" in problem


def test_a_path_escaping_the_repo_or_absolute_is_refused(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (tmp_path / "outside.tfbackend").write_text(BACKEND)
    make_repo(
        repo,
        """
        version: 1
        defaults:
          backend_file: ../outside.tfbackend
        stacks:
          - name: a
            path: a
            backend_file: /etc/a.tfbackend
    """,
        ("a",),
    )

    found = problems(repo)
    assert len(found) == 2, found
    assert found[0].startswith("gitops.yaml:3: defaults.backend_file: backend_file ")
    assert "is outside the repository" in found[0]
    assert found[1].startswith("gitops.yaml:7: stacks[0].backend_file: ")
    assert "relative to the repository root" in found[1]


def test_a_symlink_out_of_the_repo_is_refused(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (tmp_path / "secret.tfbackend").write_text(BACKEND)
    make_repo(
        repo,
        """
        version: 1
        stacks:
          - name: a
            path: a
            backend_file: a.tfbackend
    """,
        ("a",),
    )
    (repo / "a.tfbackend").symlink_to(tmp_path / "secret.tfbackend")

    (problem,) = problems(repo)
    assert problem.startswith("gitops.yaml:5: stacks[0].backend_file: ")
    assert "outside the repository" in problem


def test_a_directory_is_not_a_backend_file(tmp_path: Path) -> None:
    make_repo(
        tmp_path,
        """
        version: 1
        stacks:
          - {name: a, path: a, backend_file: a}
    """,
        ("a",),
    )

    (problem,) = problems(tmp_path)
    assert "stacks[0].backend_file" in problem and "expected a file" in problem


def test_two_stacks_naming_one_file_would_share_its_state(tmp_path: Path) -> None:
    make_repo(
        tmp_path,
        """
        version: 1
        defaults:
          backend_file: shared.tfbackend
        stacks:
          - {name: a, path: a}
          - {name: b, path: b}
          - {name: c, path: c, backend: {key: c/terraform.tfstate}}
    """,
        ("a", "b", "c"),
    )
    (tmp_path / "shared.tfbackend").write_text(BACKEND)

    (problem,) = problems(tmp_path)
    assert "stacks 'a'" in problem and "and 'b' would share one state" in problem
    assert "backend_file 'shared.tfbackend'" in problem


def test_a_pulumi_stack_takes_no_backend_file(tmp_path: Path) -> None:
    make_repo(
        tmp_path,
        """
        version: 1
        stacks:
          - {name: q, path: q, engine: pulumi, backend_file: q.tfbackend}
    """,
        ("q",),
    )
    (tmp_path / "q" / "Pulumi.yaml").write_text("name: q\nruntime: python\n")
    (tmp_path / "q.tfbackend").write_text(BACKEND)

    (problem,) = problems(tmp_path)
    assert "stacks[0].backend_file" in problem and "for Terraform and OpenTofu" in problem
