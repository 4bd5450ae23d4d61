"""Each environment of each stack at a glance: its pin, what it runs, its status, and
what is waiting to be promoted into it (`status`, GET /api/environments).

What an environment runs is its pin; for one that follows the branch, the last commit
up to the one it was applied at that changed the stack's directory or a local module it
uses (the revision `promote` would take from it). An environment is waiting when the one
before it (in `promotion.order`, else in the manifest) is Synced on a newer revision
than its pin.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from infra_gitops import config, discovery, git
from infra_gitops.daemon.contracts import StackView, SyncStatus
from infra_gitops.errors import GitOpsError
from infra_gitops.models import Stack


@dataclass(frozen=True)
class EnvironmentView:
    stack: str
    """The stack's own name (app)."""
    environment: str
    instance: str
    """app@prod."""
    pinned: str | None
    """The commit the manifest pins it to; None: it follows the branch."""
    status: str | None
    """Its sync status; None when it has no records yet."""
    applied_commit: str | None
    runs: str | None
    """The revision it runs (see the module docstring); None before its first apply."""
    waiting: str | None = None
    """What is waiting to be promoted into it, e.g. "data@staging runs 1a2b3c4d5e"."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def environments(
    manifest: config.Manifest, views: Mapping[str, StackView], repo: Path
) -> list[EnvironmentView]:
    """Every instance of the manifest, grouped by stack in promotion order."""
    found: list[EnvironmentView] = []
    by_definition: dict[str, list[Stack]] = {}
    for stack in manifest.stacks:
        if stack.environment is not None:
            by_definition.setdefault(stack.definition, []).append(stack)
    with git.open_repo(repo) as opened:
        for definition, instances in by_definition.items():
            ordered = _in_order(instances)
            previous: EnvironmentView | None = None
            for stack in ordered:
                view = views.get(stack.name)
                current = EnvironmentView(
                    stack=definition,
                    environment=str(stack.environment),
                    instance=stack.name,
                    pinned=stack.revision,
                    status=str(view.status) if view else None,
                    applied_commit=view.applied_commit if view else None,
                    runs=running_revision(opened, manifest, stack, view),
                )
                found.append(_with_waiting(opened, current, previous))
                previous = current
    return found


def _in_order(instances: list[Stack]) -> list[Stack]:
    order = instances[0].promotion.order
    if not order:
        return instances
    rank = {name: i for i, name in enumerate(order)}
    return sorted(instances, key=lambda s: rank.get(str(s.environment), len(rank)))


def running_revision(
    repo: Any, manifest: config.Manifest, stack: Stack, view: StackView | None
) -> str | None:
    """What the instance runs (see the module docstring); None when unknown: never
    applied, or pinned but not Synced at its pin."""
    if view is None or view.applied_commit is None:
        return None
    if stack.revision is not None:
        return stack.revision if view.status == SyncStatus.SYNCED else None
    paths = {stack.path}
    if stack.engine != "pulumi":
        paths |= discovery.local_module_dirs(manifest.root, stack.path)
    try:
        return git.last_change(repo, view.applied_commit, paths) or view.applied_commit
    except GitOpsError:
        return None


def _with_waiting(
    repo: Any, current: EnvironmentView, previous: EnvironmentView | None
) -> EnvironmentView:
    if (
        previous is None
        or current.pinned is None
        or previous.status != SyncStatus.SYNCED
        or previous.runs is None
        or previous.runs == current.pinned
    ):
        return current
    try:
        newer = git.is_ancestor(repo, current.pinned, previous.runs)
    except GitOpsError:
        return current
    if not newer:
        return current
    waiting = f"{previous.instance} runs {previous.runs[:10]}"
    return EnvironmentView(**{**current.to_dict(), "waiting": waiting})
