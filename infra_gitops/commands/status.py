"""`infra-gitops status`: every stack's sync status, last applied commit and last drift
check, from the run records (no daemon needed); and the newest commit the daemon could
not use, while no later one was reconciled."""

from __future__ import annotations

import argparse
import dataclasses
from typing import TYPE_CHECKING, Any, TextIO

from infra_gitops import report
from infra_gitops.commands.history import open_store
from infra_gitops.daemon.contracts import StackView
from infra_gitops.daemon.status import stack_views
from infra_gitops.options import Options
from infra_gitops.progress import Progress
from infra_gitops.runs import BadCommit, RunStore
from infra_gitops.stacknames import selected_by

if TYPE_CHECKING:
    from infra_gitops.daemon.replica_status import ReplicaGroup
    from infra_gitops.promotion.overview import EnvironmentView


def run(options: Options, args: argparse.Namespace, out: TextIO, progress: Progress) -> int:
    with open_store(options) as store:
        store.mark_interrupted()
        views = stack_views(store)
        bad = current_bad_commit(store)
    groups = _replicas(options)
    if options.stacks:
        views = [v for v in views if selected_by(options.stacks, v.name)]
    envs = _environments(options, views)
    if args.json:
        stacks = [dataclasses.asdict(v) | {"status": str(v.status)} for v in views]
        bad_commit = {"sha": bad.sha, "error": bad.error} if bad else None
        data: dict[str, Any] = {"stacks": stacks, "bad_commit": bad_commit}
        if envs:
            data["environments"] = [e.to_dict() for e in envs]
        if groups is not None:
            from infra_gitops.daemon.replica_status import replicas_json

            data["replicas"] = replicas_json(groups)
        print(report.envelope("status", 0, data), file=out)
    else:
        where = options.database_url.display if options.database_url else "this state dir"
        table = render(views, where)
        if bad is not None and not views:
            table = "no stack applied yet"
        print(table, file=out)
        if envs:
            print(f"\n{render_environments(envs)}", file=out)
        if bad is not None:
            print(f"\n{bad.error}", file=out)
        if groups is not None:
            from infra_gitops.daemon.replica_status import render_replicas

            print(f"\n{render_replicas(groups)}", file=out)
    return 0


def _environments(options: Options, views: list[StackView]) -> list[EnvironmentView]:
    """The environments of the stacks shown, when --repo holds a manifest with some."""
    from infra_gitops import config
    from infra_gitops.errors import GitOpsError
    from infra_gitops.promotion.overview import environments

    if not (options.repo / config.MANIFEST_NAME).is_file():
        return []
    try:
        manifest = config.load_manifest(options.repo)
        shown = {v.name: v for v in views}
        found = environments(manifest, shown, options.repo)
    except GitOpsError:
        return []  # status reads the records; the manifest's view is a bonus
    return [e for e in found if e.instance in shown or not options.stacks]


def render_environments(envs: list[EnvironmentView]) -> str:
    header = ("STACK", "ENVIRONMENT", "PINNED", "RUNS", "STATUS", "WAITING TO BE PROMOTED")
    rows = [
        (
            e.stack,
            e.environment,
            (e.pinned or "branch")[:10],
            (e.runs or "-")[:10],
            e.status or "-",
            e.waiting or "",
        )
        for e in envs
    ]
    return report.table(header, rows)


def _replicas(options: Options) -> list[ReplicaGroup] | None:
    """The daemon replicas on the database (None without one)."""
    if options.database_url is None:
        return None
    from infra_gitops.daemon.replica_status import replica_groups

    return replica_groups(options.database_url)


def current_bad_commit(store: RunStore) -> BadCommit | None:
    """The newest bad commit, unless something happened since (a later commit was
    reconciled: a run started or a stack's state changed after it was recorded)."""
    bad = store.latest_bad_commit()
    if bad is None:
        return None
    latest = store.list(limit=1)
    later = [s.updated_at for s in store.stack_states().values()]
    later += [r.started_at for r in latest if r.commit.sha != bad.sha]
    return None if any(at > bad.recorded_at for at in later) else bad


def render(views: list[StackView], where: str = "this state dir") -> str:
    if not views:
        return f"no stacks recorded yet in {where}"
    header = ("STACK", "STATUS", "APPLIED", "DESIRED", "LAST DRIFT CHECK", "MESSAGE")
    rows = [
        (
            v.name,
            str(v.status) + (" (paused)" if v.auto_apply_paused else ""),
            (v.applied_commit or "-")[:10],
            (v.desired_commit or "-")[:10],
            (v.last_drift_check or "-")[:19],
            v.message,
        )
        for v in views
    ]
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for index, row in enumerate([header, *rows]):
        cells = [str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)]
        if index:  # the status coloured after padding: escape codes take no width
            cells[1] = report.paint_status(cells[1], views[index - 1].status)
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
