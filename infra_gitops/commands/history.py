"""`infra-gitops history` and `infra-gitops show RUN_ID`: the audit trail, newest first;
`show RUN_ID --artifact NAME` prints an artifact of the run as it was kept (bytes)."""

from __future__ import annotations

import argparse
from contextlib import AbstractContextManager
from typing import TextIO

from infra_gitops import report
from infra_gitops.options import Options
from infra_gitops.progress import Progress
from infra_gitops.runs import RunStore


def run(options: Options, args: argparse.Namespace, out: TextIO, progress: Progress) -> int:
    with open_store(options) as store:
        store.mark_interrupted()
        runs = store.list(stack=args.stack, limit=args.limit)
    if args.json:
        print(
            report.envelope("history", 0, {"runs": [report.run_to_dict(r) for r in runs]}), file=out
        )
    else:
        print(report.render_history(runs), file=out)
    return 0


def show(options: Options, args: argparse.Namespace, out: TextIO, progress: Progress) -> int:
    with open_store(options) as store:
        store.mark_interrupted()
        if args.artifact:
            report.write_artifact(store.read_artifact(args.run_id, args.artifact), out)
            return 0
        found = store.get(args.run_id)
    if args.json:
        print(report.envelope("show", 0, {"run": report.run_to_dict(found)}), file=out)
    else:
        print(report.render_run(found), file=out)
    return 0


def open_store(options: Options) -> AbstractContextManager[RunStore]:
    """The store the common flags name (--state-dir, --database-url, --artifact-store)."""
    return RunStore.open(
        options.state_dir,
        database_url=options.database_url,
        artifact_store=options.artifact_store,
    )
