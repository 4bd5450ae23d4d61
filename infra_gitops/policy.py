"""Policy checks on plans: the manifest's rules, and conftest (Open Policy Agent) if installed.

A violation is a failure the pull request author must see (it fails `ci plan`), named by
rule, stack and resource. Rules see only redacted plans: conftest gets the redacted JSON
plan, never the saved plan file.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from infra_gitops import process
from infra_gitops.config.policies import PolicyRule
from infra_gitops.errors import GitOpsError
from infra_gitops.models import Plan, Stack

CONFTEST_TIMEOUT = 300.0


@dataclass(frozen=True)
class Violation:
    rule: str
    stack: str
    address: str | None
    """The resource, when the rule names one (conftest messages may not)."""
    action: str | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        where = f"{self.stack}: {self.address}" if self.address else self.stack
        return f"policy {self.rule!r} violated in {where}: {self.message}"


@dataclass(frozen=True)
class PolicyCheck:
    violations: tuple[Violation, ...] = ()
    notices: tuple[str, ...] = ()
    """What could not be checked and why (conftest not installed)."""


def applies_to(rule: PolicyRule, stack: Stack) -> bool:
    if not rule.stack_names and not rule.stack_tags:
        return True
    named = any(name in (stack.name, stack.definition) for name in rule.stack_names)
    return named or bool(set(rule.stack_tags) & set(stack.tags))


def denied_changes(rule: PolicyRule, stack: Stack, plan: Plan) -> list[Violation]:
    """The changes of plan that rule's `deny` forbids."""
    if not rule.deny or not applies_to(rule, stack):
        return []
    return [
        Violation(
            rule=rule.name,
            stack=stack.name,
            address=change.address,
            action=str(change.action),
            message=f"{change.action} of {change.address} is denied",
        )
        for change in plan.changes
        if str(change.action) in rule.deny
        and (not rule.resource_types or change.type in rule.resource_types)
    ]


def check_plan(
    rules: Sequence[PolicyRule],
    stack: Stack,
    plan: Plan,
    *,
    plan_json: Path | None,
    policy_root: Path,
    which: Callable[[str], str | None] = shutil.which,
) -> PolicyCheck:
    """Every rule that applies to stack against its plan.

    policy_root is where conftest directories are read from (the base branch's tree,
    so a pull request cannot loosen the rules it is checked against).
    """
    violations: list[Violation] = []
    notices: list[str] = []
    for rule in rules:
        violations += denied_changes(rule, stack, plan)
        if rule.conftest is None or not applies_to(rule, stack):
            continue
        binary = which("conftest")
        if binary is None:
            notices.append(f"policy {rule.name!r}: conftest is not installed: not checked")
        elif plan_json is None:
            notices.append(f"policy {rule.name!r}: no JSON plan for {stack.name}: not checked")
        else:
            violations += run_conftest(binary, rule, stack, plan_json, policy_root)
    return PolicyCheck(tuple(violations), tuple(notices))


def run_conftest(
    binary: str, rule: PolicyRule, stack: Stack, plan_json: Path, policy_root: Path
) -> list[Violation]:
    assert rule.conftest is not None
    policy_dir = policy_root / rule.conftest
    if not policy_dir.is_dir():
        raise GitOpsError(
            f"policy {rule.name!r}: the conftest policy directory {rule.conftest!r} "
            "does not exist in the repository"
        )
    argv = [binary, "test", "--no-color", "--output", "json", "--all-namespaces"]
    done = process.run(
        [*argv, "--policy", str(policy_dir), str(plan_json)],
        cwd=plan_json.parent,
        timeout=CONFTEST_TIMEOUT,
    )
    try:
        results = json.loads(done.stdout)
    except ValueError:
        tail = (done.stderr or done.stdout).strip()[-2000:]
        raise GitOpsError(
            f"policy {rule.name!r}: conftest failed (exit {done.returncode}) for stack "
            f"{stack.name}: {tail or '(no output)'}"
        ) from None
    return [
        Violation(rule.name, stack.name, _address(failure), None, str(failure.get("msg", "")))
        for result in results
        if isinstance(result, dict)
        for failure in result.get("failures") or []
        if isinstance(failure, dict)
    ]


def _address(failure: dict[str, Any]) -> str | None:
    # Rego rules may name the resource in metadata; Atlantis-style rules often do.
    metadata = failure.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("address"), str):
        return str(metadata["address"])
    return None
