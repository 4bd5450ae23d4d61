"""`infra-gitops status`: every stack's sync status, last applied commit and last drift
check, from the run records (no daemon needed)."""

from __future__ import annotations

import argparse
import dataclasses
from typing import TextIO

from infra_gitops import report
from infra_gitops.daemon.contracts import StackView
from infra_gitops.daemon.status import stack_views
from infra_gitops.progress import Progress
from infra_gitops.runs import RunStore
from infra_gitops.session import Options


def run(options: Options, args: argparse.Namespace, out: TextIO, progress: Progress) -> int:
    with RunStore.open(options.state_dir) as store:
        store.mark_interrupted()
        views = stack_views(store)
    if options.stacks:
        views = [v for v in views if v.name in options.stacks]
    if args.json:
        stacks = [dataclasses.asdict(v) | {"status": str(v.status)} for v in views]
        print(report.envelope("status", 0, {"stacks": stacks}), file=out)
    else:
        print(render(views), file=out)
    return 0


def render(views: list[StackView]) -> str:
    if not views:
        return "no stacks recorded yet in this state dir"
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
    return "\n".join(
        "  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    )
