"""`infra-gitops plan`: plan stacks against the live cloud. Exit 0 none, 2 changes, 1 error."""

from __future__ import annotations

import argparse
from typing import TextIO

from infra_gitops.commands.outcomes import emit, exit_code
from infra_gitops.models import RunStatus
from infra_gitops.orchestrate import run_in_order
from infra_gitops.progress import Progress
from infra_gitops.session import Options, open_session


def run(options: Options, args: argparse.Namespace, out: TextIO, progress: Progress) -> int:
    # Only plan: a dependency output that does not exist yet may take its mock value.
    with open_session(options, progress, mock_outputs=True) as session:
        stacks = session.selected()
        outcomes = run_in_order(
            stacks,
            session.runner.plan,
            parallelism=options.parallelism,
            gate_on_dependencies=False,
        )
    code = exit_code(outcomes, changes_exit_on=(RunStatus.CHANGES,))
    return emit("plan", outcomes, code, json_out=args.json, out=out)
