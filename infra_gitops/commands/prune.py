"""`infra-gitops prune STACK --confirm`: destroy a stack gone from the manifest, as a
person (see daemon/pruning.py). Exit 0 destroyed, 1 refused or failed."""

from __future__ import annotations

import argparse
from typing import TextIO

from infra_gitops import report
from infra_gitops.commands.arg_types import add_run_limits
from infra_gitops.errors import GitOpsError
from infra_gitops.models import RunStatus
from infra_gitops.options import Options
from infra_gitops.progress import Progress


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("target_stack", metavar="STACK")
    p.add_argument(
        "--confirm",
        action="store_true",
        help="yes, destroy every resource of STACK (required)",
    )
    add_run_limits(p)


def run(options: Options, args: argparse.Namespace, out: TextIO, progress: Progress) -> int:
    name = args.target_stack
    if not args.confirm:
        raise GitOpsError(
            f"prune destroys every resource of {name}: run it again with --confirm to do so"
        )
    # Imported here: the parser imports this module for add_arguments (see cli.py).
    from infra_gitops.daemon.pruning import current_actor, prune_confirmed

    done = prune_confirmed(options, name, current_actor(), progress)
    outcome = done.outcome
    code = 0 if outcome.status is RunStatus.APPLIED else 1
    if args.json:
        result = {
            "stack": name,
            "commit": done.applied_commit.sha,
            "actor": done.actor,
            "run_id": outcome.run_id,
            "status": str(outcome.status),
            "error": outcome.error,
        }
        print(report.envelope("prune", code, result), file=out)
    else:
        print(report.render_outcome(outcome), file=out)
    return code
