"""Stack values: defaults, merged maps, references, policies (build.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_helpers import FULL, make_repo, problems

from infra_gitops.config import load_manifest
from infra_gitops.durations import format_duration, parse_duration
from infra_gitops.models import DriftIgnore, Policy, Stack


def test_full_manifest_builds_the_declared_stacks(tmp_path: Path) -> None:
    make_repo(tmp_path, FULL, ("stacks/network", "stacks/storage"))

    manifest = load_manifest(tmp_path)

    assert manifest.path == tmp_path / "gitops.yaml"
    assert manifest.stacks == (
        Stack(
            name="network",
            path="stacks/network",
            env={"AWS_REGION": "us-east-1"},
            backend_config={"bucket": "state"},
            policy=Policy(drift_interval=600, prune=True),
        ),
        Stack(
            name="storage",
            path="stacks/storage",
            engine="tofu",
            workspace="prod",
            binary="/opt/tofu/bin/tofu",
            variables={"name_prefix": "demo", "zones": ["a", "b"], "api_token": "literal-secret"},
            env={"AWS_REGION": "us-east-1", "TF_LOG": ""},
            depends_on=("network",),
            backend_config={"bucket": "state", "key": "custom/key.tfstate"},
            policy=Policy(drift_interval=5400, self_heal=True, auto_apply=True, prune=True),
            variables_from_env={"db_password": "DEMO_DB_PASSWORD", "region": "DEMO_REGION"},
            variables_from_stack={"vpc_id": ("network", "vpc_id")},
            sensitive_variables=frozenset({"db_password", "api_token"}),
        ),
    )


def test_from_stack_implies_depends_on_once_after_explicit_ones(tmp_path: Path) -> None:
    make_repo(
        tmp_path,
        """
        version: 1
        stacks:
          - {name: a, path: a}
          - {name: b, path: b}
          - name: c
            path: c
            depends_on: [b]
            variables:
              x: {from_stack: a, output: x}
              y: {from_stack: b, output: y}
              z: {from_stack: a, output: z, sensitive: true}
    """,
        ("a", "b", "c"),
    )

    stack = load_manifest(tmp_path).stack("c")

    assert stack.depends_on == ("b", "a")
    assert stack.sensitive_variables == frozenset({"z"})
    assert stack.variables == {}


def test_stack_keys_override_defaults_and_maps_merge(tmp_path: Path) -> None:
    make_repo(
        tmp_path,
        """
        version: 1
        defaults:
          engine: tofu
          workspace: shared
          env: {A: "1", B: "2"}
          variables: {region: eu-west-1, owner: ops, token: {from_env: TOKEN}}
          sensitive_variables: [owner, not_everywhere]
          policy: {drift_interval: 5m, self_heal: true}
        stacks:
          - name: one
            path: one
            engine: terraform
            env: {B: "3"}
            variables: {region: us-east-1, token: plain}
            policy: {auto_apply: true}
    """,
        ("one",),
    )

    stack = load_manifest(tmp_path).stack("one")

    assert stack.engine == "terraform"
    assert stack.workspace == "shared"
    assert stack.env == {"A": "1", "B": "3"}
    assert stack.variables == {"region": "us-east-1", "owner": "ops", "token": "plain"}
    assert stack.variables_from_env == {}
    assert stack.sensitive_variables == frozenset({"owner"})
    assert stack.policy == Policy(drift_interval=300, self_heal=True, auto_apply=True)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (1, 1),
        (600, 600),
        ("30s", 30),
        ("10m", 600),
        ("1h", 3600),
        ("1h30m", 5400),
        ("2h0m5s", 7205),
        ("90m", 5400),
    ],
)
def test_durations(tmp_path: Path, value: int | str, seconds: int) -> None:
    make_repo(
        tmp_path,
        f"""
        version: 1
        stacks:
          - name: a
            path: a
            policy: {{drift_interval: {value!r}}}
    """.replace("'", "" if isinstance(value, int) else "'"),
        ("a",),
    )

    assert load_manifest(tmp_path).stack("a").policy.drift_interval == seconds
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["", "0s", "5 m", "1d", True, 0, -1])
def test_parse_duration_rejects(value: int | str) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)


def test_format_duration() -> None:
    assert [format_duration(s) for s in (45, 600, 5400, 3605)] == ["45s", "10m", "1h30m", "1h5s"]


IGNORING = """
    version: 1
    defaults:
      policy:
        ignore_drift: [tags_all.*]
    stacks:
      - name: a
        path: a
        policy:
          self_heal: true
          ignore_drift:
            - tags.CostCenter
            - {type: "aws_sqs_*", path: visibility_timeout_seconds}
            - tags_all.*
      - name: b
        path: b
"""


def test_ignore_drift_rules_add_up_from_defaults_and_the_stack(tmp_path: Path) -> None:
    make_repo(tmp_path, IGNORING, ("a", "b"))
    a, b = load_manifest(tmp_path).stacks
    assert a.policy.self_heal
    assert a.policy.ignore_drift == (
        DriftIgnore("tags_all.*"),
        DriftIgnore("tags.CostCenter"),
        DriftIgnore("visibility_timeout_seconds", type="aws_sqs_*"),
    )
    assert b.policy.ignore_drift == (DriftIgnore("tags_all.*"),)


def test_a_bad_ignore_drift_rule_is_named_with_its_line(tmp_path: Path) -> None:
    bad = IGNORING.replace("- tags.CostCenter", "- {path: tags.x, kind: y}").replace(
        "- tags_all.*\n      - name", "- ''\n      - name"
    )
    make_repo(tmp_path, bad, ("a", "b"))
    found = problems(tmp_path)
    assert any(p.startswith("gitops.yaml:11: stacks[0].policy.ignore_drift[0]") for p in found)
    assert any("stacks[0].policy.ignore_drift[2]" in p for p in found), found
