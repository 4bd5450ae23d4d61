"""Structure: the JSON Schema and the wording of its problems (schema_check.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_helpers import make_repo, problems
from jsonschema import Draft202012Validator

from infra_gitops.config import ENGINES, load_schema, validate_manifest


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    schema = load_schema()

    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$defs"]["engine"]["examples"] == list(ENGINES)


def test_schema_closes_every_fixed_mapping() -> None:
    def closed(node: object, where: str) -> list[str]:
        found: list[str] = []
        if isinstance(node, dict):
            if "properties" in node and node.get("additionalProperties") is not False:
                found.append(where)
            for key, child in node.items():
                found += closed(child, f"{where}/{key}")
        elif isinstance(node, list):
            for index, child in enumerate(node):
                found += closed(child, f"{where}/{index}")
        return found

    assert closed(load_schema(), "#") == []


def test_root_must_be_a_mapping(tmp_path: Path) -> None:
    make_repo(tmp_path, "- just\n- a list\n")

    assert problems(tmp_path) == [
        "gitops.yaml:1: expected a mapping with 'version: 1' and 'stacks', got a list"
    ]


def test_unknown_key_with_did_you_mean_at_its_line(tmp_path: Path) -> None:
    make_repo(
        tmp_path,
        """
        version: 1
        stacks:
          - name: a
            path: a
          - name: b
            path: b
            polcy: {self_heal: true}
    """,
        ("a", "b"),
    )

    assert problems(tmp_path) == [
        "gitops.yaml:7: stacks[1].polcy: unknown key 'polcy' (did you mean 'policy'?)"
    ]


def test_unknown_key_without_close_match_lists_the_expected_keys(tmp_path: Path) -> None:
    make_repo(
        tmp_path,
        """
        version: 1
        stacks:
          - name: a
            path: a
            policy: {self_heal: true, frobnicate: 3}
    """,
        ("a",),
    )

    assert problems(tmp_path) == [
        "gitops.yaml:5: stacks[0].policy.frobnicate: unknown key 'frobnicate' "
        "(expected one of: drift_interval, self_heal, auto_apply, prune, ignore_drift)"
    ]


def test_unknown_top_level_key(tmp_path: Path) -> None:
    make_repo(
        tmp_path,
        """
        version: 1
        stack:
          - {name: a, path: a}
    """,
        ("a",),
    )

    assert problems(tmp_path) == [
        "gitops.yaml:1: missing required key: 'stacks' or 'discover'",
        "gitops.yaml:2: stack: unknown key 'stack' (did you mean 'stacks'?)",
    ]


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        (
            "version: 2",
            "gitops.yaml:1: version: expected 1 (the only manifest version this "
            "infra-gitops reads), got 2",
        ),
        (
            "version: '1'",
            "gitops.yaml:1: version: expected 1 (the only manifest version this "
            "infra-gitops reads), got '1'",
        ),
        ("", "gitops.yaml:1: missing required key 'version'"),
    ],
)
def test_version(tmp_path: Path, version: str, expected: str) -> None:
    make_repo(tmp_path, f"{version}\nstacks: []\n")

    assert problems(tmp_path) == [expected]


def test_missing_name_and_path(tmp_path: Path) -> None:
    make_repo(
        tmp_path,
        """
        version: 1
        stacks:
          - engine: terraform
    """,
    )

    assert problems(tmp_path) == [
        "gitops.yaml:3: stacks[0]: missing required key 'name'",
        "gitops.yaml:3: stacks[0]: missing required key 'path'",
    ]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "workspace: bad name",
            "stacks[0].workspace: expected a workspace name of letters, "
            "digits, '_', '.', '/' and '-', got 'bad name'",
        ),
        (
            "env: {PORT: 8080}",
            "stacks[0].env.PORT: expected a string (quote numbers and booleans), got 8080",
        ),
        (
            "env: {1BAD: x}",
            "stacks[0].env.1BAD: invalid name '1BAD': expected an environment "
            "variable name of letters, digits and '_', not starting with a digit",
        ),
        ("depends_on: b", "stacks[0].depends_on: expected a list of stack names, got 'b'"),
        (
            "variables: {v: {from_env: X, from_stack: b}}",
            "stacks[0].variables.v.from_stack: unknown key 'from_stack' "
            "(expected one of: from_env, sensitive)",
        ),
        ("variables: {v: {from_stack: b}}", "stacks[0].variables.v: missing required key 'output'"),
        (
            "variables: {v: {from_env: X, sensitive: maybe}}",
            "stacks[0].variables.v.sensitive: expected true or false, got 'maybe'",
        ),
        (
            "backend: {endpoints: {s3: [a]}}",
            "stacks[0].backend.endpoints: expected a string, number, boolean, or a list or "
            "mapping of those, got a mapping",
        ),
        ("policy: {self_heal: 1}", "stacks[0].policy.self_heal: expected true or false, got 1"),
        ("binary: ''", "stacks[0].binary: expected the path or name of an executable, got ''"),
    ],
)
def test_bad_values_say_what_was_expected(tmp_path: Path, line: str, expected: str) -> None:
    make_repo(
        tmp_path,
        f"""
        version: 1
        stacks:
          - name: a
            path: a
            {line}
          - name: b
            path: b
    """,
        ("a", "b"),
    )

    assert problems(tmp_path) == [f"gitops.yaml:5: {expected}"]


def test_bad_stack_name(tmp_path: Path) -> None:
    make_repo(
        tmp_path,
        """
        version: 1
        stacks:
          - name: Bad_Name
            path: a
    """,
        ("a",),
    )

    assert problems(tmp_path) == [
        "gitops.yaml:3: stacks[0].name: expected a stack name of lowercase letters, digits, "
        "'-' and '_', starting with a letter or digit, got 'Bad_Name'"
    ]


def test_discover_rules_take_stack_settings_but_no_name(tmp_path: Path) -> None:
    make_repo(
        tmp_path,
        """
        version: 1
        discover:
          - glob: "stacks/*"
            name: all
    """,
    )

    assert problems(tmp_path) == [
        "gitops.yaml:4: discover[0].name: unknown key 'name' (expected one of: glob, engine, "
        "workspace, binary, variables, sensitive_variables, env, depends_on, backend, "
        "backend_file, policy)"
    ]


@pytest.mark.parametrize("value", ["10 minutes", "0", "0s", "1m1h", "h", "-5", "1.5", "true"])
def test_bad_durations(tmp_path: Path, value: str) -> None:
    make_repo(
        tmp_path,
        f"""
        version: 1
        stacks:
          - name: a
            path: a
            policy:
              drift_interval: {value}
    """,
        ("a",),
    )

    [problem] = validate_manifest(tmp_path)

    assert (problem.line, problem.key_path) == (6, "stacks[0].policy.drift_interval")
    assert problem.message.startswith(
        "expected a duration: whole seconds (600) or a string like 30s, 10m, 1h30m, got "
    )
