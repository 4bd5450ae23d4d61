"""`infra-gitops unlock --stack NAME LOCK_ID`: release a stack's Terraform state lock left
by a run that died (Terraform's `force-unlock -force LOCK_ID`, run in the stack's work dir
with its backend settings, as every engine command runs). A state lock error prints this
command. Exit 0 released, 1 refused or failed.

Not a run record (RunKind has no kind for it, and no resource changes): what was released,
by whom, is printed and logged.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace
from typing import TextIO

from infra_gitops import report
from infra_gitops.commands.arg_types import add_run_limits
from infra_gitops.errors import GitOpsError
from infra_gitops.options import Options
from infra_gitops.progress import Progress

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stack", required=True, metavar="NAME", help="the stack whose state is locked")
    p.add_argument(
        "lock_id", metavar="LOCK_ID", help="the lock's ID, as the state lock error printed it"
    )
    p.add_argument(
        "--auto-approve",
        action="store_true",
        help="release without asking to type the lock ID back",
    )
    add_run_limits(p)


def run(options: Options, args: argparse.Namespace, out: TextIO, progress: Progress) -> int:
    lock_id = args.lock_id.strip()
    if not lock_id:
        raise GitOpsError("unlock: LOCK_ID is empty: give the ID the state lock error printed")
    if not args.auto_approve and not sys.stdin.isatty():
        raise GitOpsError(
            "unlock needs --auto-approve when standard input is not a terminal; "
            "nothing was released"
        )
    # Imported here: the parser imports this module for add_arguments (see cli.py).
    from infra_gitops.daemon.pruning import current_actor
    from infra_gitops.session import open_session

    actor = current_actor()
    with open_session(replace(options, stacks=()), progress) as session:
        stack = session.manifest.stack(args.stack)
        if not args.auto_approve:
            print(
                f"Releasing lock {lock_id} of stack {stack.name}'s state lets other runs "
                "change it: do this only once you are sure the run that took it is gone.",
                file=out,
            )
            out.flush()
            answer = input("Type the lock ID to confirm: ")
            if answer.strip() != lock_id:
                raise GitOpsError("unlock cancelled: the answer is not the lock ID")
        progress.say(f"{stack.name}: releasing state lock {lock_id}")
        session.runner.force_unlock(stack, lock_id)
    log.info("stack %s: state lock %s released by %s", stack.name, lock_id, actor)
    if args.json:
        result = {"stack": stack.name, "lock_id": lock_id, "actor": actor, "released": True}
        print(report.envelope("unlock", 0, result), file=out)
    else:
        print(f"{stack.name}: state lock {lock_id} released by {actor}", file=out)
    return 0
