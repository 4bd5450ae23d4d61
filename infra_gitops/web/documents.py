"""The JSON documents of the read API (what the web UI shows): runs as the CLI's --json
gives them (report.run_to_dict), and each resource change with its changed paths'
values rendered before -> after as the CLI renders them (report.render_value)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from infra_gitops.daemon.contracts import StackDetail, StackView
from infra_gitops.models import ResourceChange, Run
from infra_gitops.report import describe_change, render_value, run_to_dict, value_at

_RUN_DETAIL = ("changes", "drift", "output_changes")
"""What a history row leaves out (GET /api/runs/{id} has it)."""


def change_document(change: ResourceChange) -> dict[str, Any]:
    """The change as stored (redacted before/after, markers as they are), its action in
    words, and each changed path's value before and after."""
    return {
        **change.to_dict(),
        "description": describe_change(change),
        "values": [
            {
                "path": path,
                "before": render_value(value_at(change.before, path)),
                "after": render_value(value_at(change.after, path)),
            }
            for path in change.changed_paths
        ],
    }


def changes_document(changes: Iterable[ResourceChange]) -> list[dict[str, Any]]:
    return [change_document(c) for c in changes]


def run_document(run: Run) -> dict[str, Any]:
    return {
        **run_to_dict(run),
        "changes": changes_document(run.changes),
        "drift": changes_document(run.drift),
    }


def run_summary(run: Run) -> dict[str, Any]:
    """A history row: the run without its changes."""
    return {k: v for k, v in run_to_dict(run).items() if k not in _RUN_DETAIL}


def stack_document(detail: StackDetail) -> dict[str, Any]:
    return {
        **dataclasses.asdict(detail.view),
        "depends_on": list(detail.depends_on),
        "drift": changes_document(detail.drift),
        "drift_run_id": detail.drift_run_id,
        "changes": changes_document(detail.changes),
        "changes_run_id": detail.changes_run_id,
    }


def graph_document(
    views: Iterable[StackView], edges: Mapping[str, tuple[str, ...]]
) -> dict[str, Any]:
    """Nodes (the stacks given, with their status) and the dependency edges between them."""
    nodes = [{"name": v.name, "status": str(v.status)} for v in views]
    shown = {n["name"] for n in nodes}
    return {
        "nodes": nodes,
        "edges": [
            {"stack": stack, "depends_on": dep}
            for stack, deps in edges.items()
            for dep in deps
            if stack in shown and dep in shown
        ],
    }
