"""Reading the YAML: file-level problems, lines, duplicate keys (yaml_source.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_helpers import make_repo, problems

from infra_gitops.config import (
    ConfigError,
    Problem,
    load_manifest,
    validate_manifest,
)


def test_missing_manifest_names_the_expected_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_manifest(tmp_path)

    assert str(caught.value) == f"gitops.yaml: manifest not found: expected {tmp_path}/gitops.yaml"
    assert caught.value.problems == (
        Problem("gitops.yaml", None, "", f"manifest not found: expected {tmp_path}/gitops.yaml"),
    )


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n"])
def test_empty_manifest(tmp_path: Path, text: str) -> None:
    (tmp_path / "gitops.yaml").write_text(text)

    assert problems(tmp_path) == [
        "gitops.yaml: the manifest is empty: expected a mapping with 'version: 1' and 'stacks'"
    ]


def test_yaml_syntax_error_gives_the_line(tmp_path: Path) -> None:
    make_repo(
        tmp_path,
        """
        version: 1
        stacks:
          - name: a
            path: [unclosed
    """,
    )

    [problem] = validate_manifest(tmp_path)

    assert problem.line == 5
    assert problem.message.startswith("invalid YAML: ")


def test_duplicate_yaml_keys_are_errors_with_both_lines(tmp_path: Path) -> None:
    make_repo(
        tmp_path,
        """
        version: 1
        stacks:
          - name: a
            path: a
            policy:
              self_heal: true
              self_heal: false
    """,
        ("a",),
    )

    assert problems(tmp_path) == [
        "gitops.yaml:7: stacks[0].policy.self_heal: duplicate key 'self_heal' (first at line 6)"
    ]


def test_duplicate_keys_do_not_hide_other_problems(tmp_path: Path) -> None:
    make_repo(
        tmp_path,
        """
        version: 1
        version: 1
        stacks:
          - {name: a, path: a, engine: tofoo}
    """,
        ("a",),
    )

    assert problems(tmp_path) == [
        "gitops.yaml:2: version: duplicate key 'version' (first at line 1)",
        "gitops.yaml:4: stacks[0].engine: unknown engine 'tofoo' (did you mean 'tofu'?)",
    ]


def test_keys_must_be_strings(tmp_path: Path) -> None:
    make_repo(
        tmp_path,
        """
        version: 1
        stacks:
          - name: a
            path: a
            variables:
              1: one
    """,
        ("a",),
    )

    assert problems(tmp_path) == [
        "gitops.yaml:6: stacks[0].variables: key '1' is not a string: quote it"
    ]


def test_recursive_alias(tmp_path: Path) -> None:
    make_repo(tmp_path, "version: 1\nstacks: &x [*x]\n")

    assert problems(tmp_path) == [
        "gitops.yaml:2: stacks[0]: recursive YAML alias: a value cannot contain itself"
    ]


def test_more_than_one_yaml_document(tmp_path: Path) -> None:
    make_repo(tmp_path, "version: 1\nstacks: []\n---\nversion: 1\n")

    assert problems(tmp_path) == [
        "gitops.yaml:3: invalid YAML: expected a single document in the stream at line 1, "
        "but found another document"
    ]


def test_yaml_dates_stay_strings_and_anchors_work(tmp_path: Path) -> None:
    make_repo(
        tmp_path,
        """
        version: 1
        stacks:
          - name: a
            path: a
            variables: &common {since: 2024-01-01, retries: 3}
          - name: b
            path: b
            variables:
              <<: *common
              retries: 5
    """,
        ("a", "b"),
    )

    manifest = load_manifest(tmp_path)

    assert manifest.stack("a").variables == {"since": "2024-01-01", "retries": 3}
    assert manifest.stack("b").variables == {"since": "2024-01-01", "retries": 5}


def test_errors_in_merged_anchors_point_at_the_anchor(tmp_path: Path) -> None:
    make_repo(
        tmp_path,
        """
        version: 1
        stacks:
          - &base
            name: a
            path: a
            engine: terrafom
          - <<: *base
            name: b
    """,
        ("a",),
    )

    assert problems(tmp_path) == [
        "gitops.yaml:6: stacks[0].engine: unknown engine 'terrafom' (did you mean 'terraform'?)",
        "gitops.yaml:6: stacks[1].engine: unknown engine 'terrafom' (did you mean 'terraform'?)",
    ]
