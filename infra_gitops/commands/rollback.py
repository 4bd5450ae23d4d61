"""`infra-gitops rollback STACK --to SHA`: bring a stack back to what a commit declared,
and keep it there (a revert commit, or a pause of auto-apply): see daemon/rollback.py.
"""

from __future__ import annotations

import argparse
from typing import TextIO

from infra_gitops import report
from infra_gitops.commands.arg_types import non_negative_seconds, positive_seconds
from infra_gitops.models import RunStatus
from infra_gitops.options import Options
from infra_gitops.progress import Progress

DEFAULT_LOCK_WAIT = 300.0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("target_stack", metavar="STACK")
    p.add_argument("--to", required=True, metavar="SHA", help="the commit to go back to")
    p.add_argument(
        "--repo",
        default=None,
        metavar="PATH_OR_URL",
        help="the infra repo's remote (default: the one the daemon on --state-dir follows)",
    )
    p.add_argument("--branch", default="main", help="the branch the daemon follows")
    p.add_argument("--reason", default="", help="why (recorded with the run and the commit)")
    p.add_argument(
        "--pause",
        action="store_true",
        help="pause auto-apply of the stack instead of making a revert commit",
    )
    p.add_argument(
        "--lock-wait", type=non_negative_seconds, default=DEFAULT_LOCK_WAIT, metavar="SECONDS"
    )
    p.add_argument("--timeout", type=positive_seconds, default=1800.0, metavar="SECONDS")


def run(options: Options, args: argparse.Namespace, out: TextIO, progress: Progress) -> int:
    # Imported here: the parser imports this module for add_arguments (see cli.py).
    from infra_gitops.daemon.rollback import RollbackRequest, roll_back

    request = RollbackRequest(
        stack=args.target_stack,
        to=args.to,
        remote=args.repo,
        branch=args.branch,
        reason=args.reason,
        pause=args.pause,
        lock_wait=args.lock_wait,
        timeout=args.timeout,
        database_url=options.database_url,
        artifact_store=options.artifact_store,
    )
    done = roll_back(options.state_dir, request, progress)
    outcome, sticking = done.outcome, done.sticking
    code = 0 if outcome.status in (RunStatus.APPLIED, RunStatus.NO_CHANGES) else 1
    result = {
        "stack": done.stack,
        "to": done.target.sha,
        "reason": done.reason,
        "run_id": outcome.run_id,
        "status": str(outcome.status),
        "error": outcome.error,
        "method": sticking.method,
        "detail": sticking.detail,
        "revert_commit": sticking.revert_commit,
    }
    if args.json:
        print(report.envelope("rollback", code, result), file=out)
    else:
        print(report.render_outcome(outcome), file=out)
        print(f"{done.stack}: rolled back to {done.target.short_sha}; {sticking.detail}", file=out)
    return code
