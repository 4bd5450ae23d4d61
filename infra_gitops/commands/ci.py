"""`infra-gitops ci plan`: plan what a pull request changes and report it on the pull request.

Exit 0 no changes, 2 changes, 1 any error or policy violation. The report goes to
$GITHUB_STEP_SUMMARY (when set), --markdown FILE, the terminal or --json, and with a
token in the environment to the pull request's one comment and a commit status. The
pipeline is infra_gitops.ci.planning; this module parses and prints.
"""

from __future__ import annotations

import argparse
import os
from typing import TextIO

from infra_gitops import report
from infra_gitops.ci.planning import PlanRequest, plan_pull_request
from infra_gitops.ci.result import PlanReport
from infra_gitops.commands.outcomes import EXIT_ERROR, exit_code
from infra_gitops.models import RunStatus
from infra_gitops.progress import Progress
from infra_gitops.session import Options


def run(options: Options, args: argparse.Namespace, out: TextIO, progress: Progress) -> int:
    request = PlanRequest(
        base=args.base,
        head=args.head,
        policy_only=args.policy_only,
        store=args.store,
        markdown=args.markdown,
        require_comment=args.require_comment,
    )
    result = plan_pull_request(options, request, dict(os.environ), progress)
    code = exit_code(result.report.outcomes, changes_exit_on=(RunStatus.CHANGES,))
    if result.report.violations or result.comment_failed:
        code = EXIT_ERROR
    _print(result.report, code, json_out=args.json, out=out)
    return code


def _print(plan_report: PlanReport, code: int, *, json_out: bool, out: TextIO) -> None:
    if json_out:
        print(report.envelope("ci plan", code, plan_report.to_dict()), file=out)
        return
    print(report.render_outcomes(plan_report.outcomes), file=out)
    for violation in plan_report.violations:
        print(f"POLICY VIOLATION: {violation}", file=out)
    for notice in plan_report.notices:
        print(f"note: {notice}", file=out)
