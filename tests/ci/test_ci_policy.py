"""Policy rules: the manifest section, deny rules by stack name/tag and resource type, and
conftest (skipped with a notice when it is not installed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra_gitops import config
from infra_gitops.config.policies import PolicyRule
from infra_gitops.errors import ConfigError
from infra_gitops.models import Action, Plan, ResourceChange, Stack
from infra_gitops.policy import check_plan

PROD = Stack("storage", "stacks/storage", tags=("prod",))
DEV = Stack("sandbox", "stacks/sandbox", tags=("dev",))


def _plan(*changes: tuple[str, Action]) -> Plan:
    items = tuple(
        ResourceChange(address, address.split(".")[0], address.split(".")[1], action)
        for address, action in changes
    )
    return Plan("x", items, (), {}, "terraform", "terraform 1.15.5")


PLAN = _plan(
    ("aws_s3_bucket.data", Action.REPLACE),
    ("aws_sqs_queue.jobs", Action.DELETE),
    ("aws_ssm_parameter.p", Action.CREATE),
)


def _check(rule: PolicyRule, stack: Stack) -> list[tuple[str, str | None]]:
    found = check_plan([rule], stack, PLAN, plan_json=None, policy_root=Path("."))
    return [(v.rule, v.address) for v in found.violations]


def test_deny_by_tag_names_rule_and_resources() -> None:
    rule = PolicyRule("no-prod-deletes", deny=("delete", "replace"), stack_tags=("prod",))
    assert _check(rule, PROD) == [
        ("no-prod-deletes", "aws_s3_bucket.data"),
        ("no-prod-deletes", "aws_sqs_queue.jobs"),
    ]
    assert _check(rule, DEV) == []


def test_deny_by_resource_type_and_stack_name() -> None:
    rule = PolicyRule("no-bucket-replace", deny=("replace",), resource_types=("aws_s3_bucket",))
    assert _check(rule, DEV) == [("no-bucket-replace", "aws_s3_bucket.data")]
    named = PolicyRule("only-sandbox", deny=("create",), stack_names=("sandbox",))
    assert _check(named, DEV) == [("only-sandbox", "aws_ssm_parameter.p")]
    assert _check(named, PROD) == []


def test_conftest_missing_is_a_notice_not_a_pass_or_failure() -> None:
    rule = PolicyRule("opa", conftest="policy")
    found = check_plan(
        [rule], PROD, PLAN, plan_json=Path("p.json"), policy_root=Path("."), which=lambda _: None
    )
    assert found.violations == ()
    assert found.notices == ("policy 'opa': conftest is not installed: not checked",)


def test_conftest_failures_become_violations(tmp_path: Path) -> None:
    # A stand-in for the conftest binary (not installed here), printing its JSON output.
    standin = tmp_path / "conftest"
    standin.write_text(
        "#!/bin/sh\ncat <<'EOF'\n"
        '[{"filename": "p.json", "namespace": "main", "successes": 1, "failures": '
        '[{"msg": "buckets need an owner tag", "metadata": {"address": "aws_s3_bucket.data"}}]}]\n'
        "EOF\nexit 1\n"
    )
    standin.chmod(0o755)
    (tmp_path / "policy").mkdir()
    plan_json = tmp_path / "p.json"
    plan_json.write_text("{}")
    found = check_plan(
        [PolicyRule("opa", conftest="policy")],
        PROD,
        PLAN,
        plan_json=plan_json,
        policy_root=tmp_path,
        which=lambda _: str(standin),
    )
    (violation,) = found.violations
    assert (violation.rule, violation.address, violation.message) == (
        "opa",
        "aws_s3_bucket.data",
        "buckets need an owner tag",
    )


def _manifest(tmp_path: Path, policies: str) -> None:
    (tmp_path / "stacks" / "a").mkdir(parents=True)
    (tmp_path / "stacks" / "a" / "main.tf").write_text("")
    (tmp_path / "gitops.yaml").write_text(
        "version: 1\nstacks:\n  - name: a\n    path: stacks/a\n    tags: [prod]\n" + policies
    )


def test_manifest_reads_policies_and_tags(tmp_path: Path) -> None:
    _manifest(
        tmp_path,
        "policies:\n  - name: no-del\n    deny: [delete]\n"
        "    stacks: {names: [a]}\n  - name: opa\n    conftest: policy\n",
    )
    manifest = config.load_manifest(tmp_path)
    assert manifest.stack("a").tags == ("prod",)
    assert manifest.policies == (
        PolicyRule("no-del", deny=("delete",), stack_names=("a",)),
        PolicyRule("opa", conftest="policy"),
    )


@pytest.mark.parametrize(
    ("policies", "message"),
    [
        ("policies:\n  - name: x\n    deny: [destroy]\n", "policies[0].deny[0]: expected one of"),
        (
            "policies:\n  - name: x\n    deny: [delete]\n    stacks: {names: [b]}\n",
            "policies[0].stacks.names[0]: unknown stack 'b'",
        ),
        ("policies:\n  - name: x\n", "policies[0]"),
        (
            "policies:\n  - {name: x, deny: [delete]}\n  - {name: x, deny: [create]}\n",
            "policies[1].name: duplicate rule name 'x'",
        ),
    ],
)
def test_bad_policies_are_reported_where_they_are(
    tmp_path: Path, policies: str, message: str
) -> None:
    _manifest(tmp_path, policies)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        config.load_manifest(tmp_path)


def test_forget_is_not_a_delete_and_can_be_denied_on_its_own() -> None:
    plan = _plan(("aws_s3_bucket.kept", Action.FORGET))
    no_deletes = PolicyRule("no-deletes", deny=("delete",))
    no_forgets = PolicyRule("no-forgets", deny=("forget",))
    kwargs = {"plan_json": None, "policy_root": Path(".")}
    assert check_plan([no_deletes], PROD, plan, **kwargs).violations == ()
    [violation] = check_plan([no_forgets], PROD, plan, **kwargs).violations
    assert (violation.address, violation.action) == ("aws_s3_bucket.kept", "forget")
