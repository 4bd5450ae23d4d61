"""`infra-gitops apply`: plan and apply stacks in dependency order.

Each stack applies exactly the plan just shown for it. Without --auto-approve the user
confirms each plan on a terminal; with no terminal, nothing is applied.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from dataclasses import replace
from typing import TextIO

from infra_gitops import report
from infra_gitops.ci.applying import apply_stored, plans_commit
from infra_gitops.ci.planning import scratch_dir as ci_scratch
from infra_gitops.ci.store import default_location, open_store, s3_client_factory
from infra_gitops.commands.outcomes import emit, exit_code
from infra_gitops.errors import GitOpsError
from infra_gitops.models import Plan, Stack, StackOutcome
from infra_gitops.orchestrate import run_in_order
from infra_gitops.progress import Progress
from infra_gitops.session import Options, Session, open_session
from infra_gitops.stackrun import Approver


def run(options: Options, args: argparse.Namespace, out: TextIO, progress: Progress) -> int:
    if getattr(args, "from_plan", False):
        return _apply_from_plan(options, args, out, progress)
    approve = None if args.auto_approve else _terminal_approver(out)
    with open_session(options, progress) as session:
        outcomes = run_in_order(
            session.selected(),
            lambda stack: _apply_one(session, stack, approve),
            parallelism=options.parallelism,
        )
    code = exit_code(outcomes, changes_exit_on=(), skipped_is_error=True)
    return emit("apply", outcomes, code, json_out=args.json, out=out)


def _apply_from_plan(
    options: Options, args: argparse.Namespace, out: TextIO, progress: Progress
) -> int:
    """Apply the plans `ci plan` stored for a commit: exactly those, never a new plan.

    Reviewed on the pull request, so no question is asked. The code applied is an exact
    commit (--ref, default HEAD), never uncommitted edits.
    """
    options = replace(options, ref=options.ref or "HEAD", trigger="ci")
    with ci_scratch(options.state_dir) as scratch, open_session(options, progress) as session:
        location = args.store or default_location(options.state_dir, os.environ)
        store = open_store(location, s3_client=s3_client_factory(session.target))
        sha = plans_commit(session, store, args.sha)
        progress.say(f"applying the plans stored for commit {sha[:10]} in {store.describe()}")
        outcomes = apply_stored(session, store, sha, scratch)
    code = exit_code(outcomes, changes_exit_on=(), skipped_is_error=True)
    return emit("apply", outcomes, code, json_out=args.json, out=out)


def _apply_one(session: Session, stack: Stack, approve: Approver | None) -> StackOutcome:
    outcome = session.runner.apply(stack, approve)
    if outcome.outputs is not None:
        # Dependents planned later in this command read the outputs just applied.
        session.outputs.put(stack.name, outcome.outputs)
    return outcome


def _terminal_approver(out: TextIO) -> Approver:
    if not sys.stdin.isatty():
        raise GitOpsError(
            "apply needs --auto-approve when standard input is not a terminal; nothing was applied"
        )
    ask_one_at_a_time = threading.Lock()

    def approve(stack: Stack, plan: Plan) -> bool:
        with ask_one_at_a_time:
            print(f"\n{stack.name}:", file=out)
            print("\n".join(report.render_plan(plan)), file=out)
            answer = input(f"Apply these changes to {stack.name}? Only 'yes' is accepted: ")
            return answer.strip() == "yes"

    return approve
