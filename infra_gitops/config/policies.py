"""The `policies` section of the manifest: rules every plan is checked against in CI.

policies:
  - name: no-prod-deletes
    deny: [delete, replace]          # actions a plan may not contain
    stacks: {tags: [prod]}           # or {names: [a, b]}; absent: every stack
    resource_types: [aws_s3_bucket]  # absent: every type
  - name: opa
    conftest: policy/                # conftest test against this directory of Rego
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from infra_gitops.config.document import Document
from infra_gitops.errors import Problem
from infra_gitops.hints import unknown_stack

__all__ = ["PolicyRule", "policy_problems", "policy_rules"]


@dataclass(frozen=True)
class PolicyRule:
    name: str
    deny: tuple[str, ...] = ()
    """Actions (create, update, replace, delete, forget) the rule forbids."""
    stack_names: tuple[str, ...] = ()
    stack_tags: tuple[str, ...] = ()
    """With neither names nor tags, the rule applies to every stack."""
    resource_types: tuple[str, ...] = ()
    conftest: str | None = None
    """A directory of Rego policies (repo-relative) for `conftest test`."""


def policy_rules(doc: Document) -> tuple[PolicyRule, ...]:
    """The rules of a document the schema check passed."""
    entries = doc.get(("policies",))
    if not isinstance(entries, list):
        return ()
    return tuple(_rule(entry) for entry in entries if isinstance(entry, dict))


def policy_problems(doc: Document, stack_names: Sequence[str]) -> list[Problem]:
    """Rules naming stacks that do not exist; rule names used twice."""
    entries = doc.get(("policies",))
    if not isinstance(entries, list):
        return []
    problems: list[Problem] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            continue
        name = entry.get("name")
        if isinstance(name, str) and name in seen:
            problems.append(doc.problem(("policies", i, "name"), f"duplicate rule name {name!r}"))
        seen.add(str(name))
        names = doc.get(("policies", i, "stacks", "names"))
        for j, stack in enumerate(names if isinstance(names, list) else []):
            if isinstance(stack, str) and stack not in stack_names:
                where = ("policies", i, "stacks", "names", j)
                problems.append(doc.problem(where, unknown_stack(stack, stack_names)))
    return problems


def _rule(entry: dict[str, object]) -> PolicyRule:
    stacks = entry.get("stacks")
    selector = stacks if isinstance(stacks, dict) else {}
    conftest = entry.get("conftest")
    return PolicyRule(
        name=str(entry["name"]),
        deny=_strings(entry.get("deny")),
        stack_names=_strings(selector.get("names")),
        stack_tags=_strings(selector.get("tags")),
        resource_types=_strings(entry.get("resource_types")),
        conftest=conftest if isinstance(conftest, str) else None,
    )


def _strings(value: object) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()
