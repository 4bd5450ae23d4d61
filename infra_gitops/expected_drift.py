"""Expected drift: the changes outside Git a stack's policy ignores (`ignore_drift`).

Any engine's plan is annotated here, right after it is made: each drifted resource
gets the changed paths the policy expects (ResourceChange.ignored_paths). Drift made only
of such paths is still recorded and shown on request, but it is not Drifted, does not
start a heal and does not notify (models.unexpected).

An apply must not undo expected drift either: `kept_live` gives, per resource, the
ignored paths the live cloud changed, which the engine keeps as they are live (Terraform:
lifecycle ignore_changes); `undone` names what a plan would still change among them, so
that a heal that cannot keep them is refused rather than applied.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from fnmatch import fnmatchcase

from infra_gitops.models import DriftIgnore, Plan, ResourceChange

KeptLive = Mapping[str, tuple[str, ...]]
"""Resource address -> attribute paths (dotted) whose live values a plan must keep."""


def path_matches(rule: DriftIgnore, resource_type: str, path: str) -> bool:
    """Whether rule expects a change to path of a resource of resource_type. A rule's
    path covers what lies under it: tags covers tags.owner; tags.* covers tags.owner."""
    if rule.type is not None and not fnmatchcase(resource_type, rule.type):
        return False
    return any(fnmatchcase(prefix, rule.path) for prefix in _prefixes(path))


def _prefixes(path: str) -> Iterable[str]:
    parts = path.split(".")
    return (".".join(parts[:n]) for n in range(1, len(parts) + 1))


def ignored_paths(rules: Sequence[DriftIgnore], change: ResourceChange) -> tuple[str, ...]:
    return tuple(
        path
        for path in change.changed_paths
        if any(path_matches(rule, change.type, path) for rule in rules)
    )


def annotate(plan: Plan, rules: Sequence[DriftIgnore]) -> Plan:
    """plan with each drifted resource's expected paths noted (a no-op without rules)."""
    if not rules or not plan.drift:
        return plan
    drift = tuple(replace(c, ignored_paths=ignored_paths(rules, c)) for c in plan.drift)
    return replace(plan, drift=drift)


def kept_live(plan: Plan) -> dict[str, tuple[str, ...]]:
    """The expected drift of an annotated plan, by resource: what an apply must keep."""
    return {c.address: c.ignored_paths for c in plan.drift if c.ignored_paths}


def undone(plan: Plan, kept: KeptLive) -> list[str]:
    """ "ADDRESS: PATH" for each kept path that plan's changes would still set back."""
    found = []
    for change in plan.changes:
        paths = kept.get(change.address, ())
        if not paths:
            continue
        if not change.changed_paths:  # a replace or delete rebuilds every attribute
            found += [f"{change.address}: {path}" for path in paths]
            continue
        found += [
            f"{change.address}: {path}"
            for path in paths
            if any(_within(changed, path) for changed in change.changed_paths)
        ]
    return found


def _within(changed: str, kept: str) -> bool:
    return changed == kept or changed.startswith(kept + ".") or kept.startswith(changed + ".")
