"""Reading the YAML: file-level problems, lines, duplicate keys (yaml_source.py)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from config_helpers import make_repo, problems

from infra_gitops.config import (
    ConfigError,
    Problem,
    load_manifest,
    validate_manifest,
    yaml_source,
)
from infra_gitops.config.yaml_source import MAX_ALIAS_NODES, MAX_DEPTH, MAX_MANIFEST_BYTES


@pytest.fixture(params=["libyaml", "pyyaml"])
def either_parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """libyaml reads the events where PyYAML has it; PyYAML alone elsewhere: both bound."""
    monkeypatch.setattr(yaml_source, "USE_LIBYAML", request.param == "libyaml")


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


@pytest.mark.usefixtures("either_parser")
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


@pytest.mark.usefixtures("either_parser")
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


@pytest.mark.usefixtures("either_parser")
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


def alias_bomb(levels: int = 9) -> str:
    """The "billion laughs" document: each level repeats the one above 9 times (9^9 values
    from a few hundred bytes); its first line is `version: 1`."""
    lines = [
        "version: 1",
        'l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]',
    ]
    for level in range(1, levels):
        aliases = ", ".join([f"*l{level - 1}"] * 9)
        lines.append(f"l{level}: &l{level} [{aliases}]")
    lines.append("stacks: []")
    return "\n".join(lines) + "\n"


@pytest.mark.usefixtures("either_parser")
def test_an_alias_bomb_is_refused_at_the_alias_that_passes_the_limit(tmp_path: Path) -> None:
    (tmp_path / "gitops.yaml").write_text(alias_bomb())

    started = time.monotonic()
    found = problems(tmp_path)

    assert time.monotonic() - started < 0.5
    # l1..l3 add 90 + 819 + 7380 nodes; l4's first alias (to l3, 7381 more) passes 10000.
    assert found == [f"gitops.yaml:6: aliases expand past {MAX_ALIAS_NODES} nodes: refused"]


def test_anchors_shared_by_many_stacks_stay_allowed(tmp_path: Path) -> None:
    stacks = "\n".join(f"  - name: s{i}\n    path: s{i}\n    policy: *shared" for i in range(60))
    make_repo(
        tmp_path,
        "version: 1\nx-shared: &shared {auto_apply: true, self_heal: false}\n"
        f"stacks:\n{stacks}\n",
        tuple(f"s{i}" for i in range(60)),
    )

    assert [p for p in problems(tmp_path) if "alias" in p or "refused" in p] == []


@pytest.mark.parametrize(
    ("nested", "line"),
    [
        ("x: " + "[" * 100_000 + "]" * 100_000, 2),
        ("x:\n" + "".join("  " * i + f"  k{i}:\n" for i in range(MAX_DEPTH + 1)) + "    v", 65),
    ],
    ids=["flow", "block"],
)
@pytest.mark.usefixtures("either_parser")
def test_nesting_deeper_than_the_limit_is_refused(tmp_path: Path, nested: str, line: int) -> None:
    # Block: the document is level 1 and x's value level 2, so the mapping that starts
    # on line 65 (k62) is level 65.
    (tmp_path / "gitops.yaml").write_text(f"version: 1\n{nested}\n")

    started = time.monotonic()
    found = problems(tmp_path)

    assert time.monotonic() - started < 1.0
    assert found == [f"gitops.yaml:{line}: nested deeper than {MAX_DEPTH} levels: refused"]


@pytest.mark.usefixtures("either_parser")
def test_nesting_up_to_the_limit_is_read(tmp_path: Path) -> None:
    # version + stacks + the document itself leave MAX_DEPTH - 1 levels for x.
    (tmp_path / "gitops.yaml").write_text(
        "version: 1\nx: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "\n"
    )

    assert not any("nested deeper" in p for p in problems(tmp_path))


def test_a_manifest_larger_than_the_limit_is_refused_unread(tmp_path: Path) -> None:
    (tmp_path / "gitops.yaml").write_text("version: 1\n" + "# padding\n" * MAX_MANIFEST_BYTES)

    assert problems(tmp_path) == ["gitops.yaml: larger than 1024 KiB: refused"]


def test_a_number_too_long_for_python_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "gitops.yaml").write_text("version: 1\nx: " + "1" * 5000 + "\n")

    (found,) = problems(tmp_path)

    assert found.startswith("gitops.yaml: invalid YAML value: Exceeds the limit")
    assert "set_int_max_str_digits" not in found
