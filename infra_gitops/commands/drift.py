"""`infra-gitops drift`: what changed outside Git, per resource; --heal puts Git back.

Exit 0 no drift, 2 drift found (with --heal: found and healed), 1 error.
"""

from __future__ import annotations

import argparse
from functools import partial
from typing import TextIO

from infra_gitops.commands.outcomes import emit, exit_code
from infra_gitops.models import RunStatus
from infra_gitops.orchestrate import run_in_order
from infra_gitops.progress import Progress
from infra_gitops.session import Options, open_session


def run(options: Options, args: argparse.Namespace, out: TextIO, progress: Progress) -> int:
    with open_session(options, progress) as session:
        outcomes = run_in_order(
            session.selected(),
            partial(session.runner.drift, heal=args.heal),
            parallelism=options.parallelism,
            # Healing a stack whose dependency failed to heal would apply on top of
            # a half-restored dependency; a plain drift check reads only what is live.
            gate_on_dependencies=args.heal,
        )
    code = exit_code(outcomes, changes_exit_on=(RunStatus.DRIFTED,))
    return emit(
        "drift", outcomes, code, json_out=args.json, out=out, show_ignored=args.show_ignored
    )
