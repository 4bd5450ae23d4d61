"""Turning per-stack outcomes into an exit code and printed output."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from infra_gitops import report
from infra_gitops.models import RunStatus, StackOutcome

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2


def exit_code(
    outcomes: Sequence[StackOutcome],
    *,
    changes_exit_on: tuple[RunStatus, ...],
    skipped_is_error: bool = False,
) -> int:
    """1 when any stack failed, else 2 when any is in changes_exit_on, else 0.

    For apply a skipped stack (its dependency failed, its plan was not approved) did not
    reach the state asked for: an error to a pipeline, as a cancelled `terraform apply`
    is. A plan skipped while it waits on a dependency's outputs is not an error.
    """
    errors = (RunStatus.FAILED, RunStatus.SKIPPED) if skipped_is_error else (RunStatus.FAILED,)
    if any(o.status in errors for o in outcomes):
        return EXIT_ERROR
    if any(o.status in changes_exit_on for o in outcomes):
        return EXIT_CHANGES
    return EXIT_OK


def emit(
    command: str,
    outcomes: Sequence[StackOutcome],
    code: int,
    *,
    json_out: bool,
    out: TextIO,
    show_ignored: bool = False,
) -> int:
    if json_out:
        result = {"stacks": [report.outcome_to_dict(o) for o in outcomes]}
        print(report.envelope(command, code, result), file=out)
    else:
        print(report.render_outcomes(outcomes, show_ignored=show_ignored), file=out)
    return code
