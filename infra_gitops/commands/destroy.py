"""`infra-gitops destroy --stack NAME [--stack ...]`: destroy stacks still declared in the
manifest, as a person, like `terraform destroy`.

Through the runner (locked, recorded as a destroy run with the actor, as `prune
--confirm`). Guard rails, all checked before anything is destroyed: only the stacks
named (no default); a person types each stack's name back unless --auto-approve, and
with no terminal --auto-approve is required; a stack that other declared stacks depend
on is refused while they are deployed, unless they are named too (they go first); a
sync window that holds applies holds destroys too. Exit 0 destroyed, 1 refused or failed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TextIO

from infra_gitops.commands.arg_types import add_run_limits
from infra_gitops.commands.outcomes import emit, exit_code
from infra_gitops.errors import GitOpsError
from infra_gitops.models import RunKind, RunStatus, Stack, StackOutcome
from infra_gitops.options import Options
from infra_gitops.progress import Progress

if TYPE_CHECKING:  # the parser imports this module: config and discovery load yaml/jsonschema
    from infra_gitops.config import Manifest


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--stack",
        action="append",
        required=True,
        metavar="NAME",
        help="destroy this stack (repeatable; required: there is no 'all')",
    )
    p.add_argument(
        "--auto-approve",
        action="store_true",
        help="destroy without asking to type each stack's name back",
    )
    add_run_limits(p)


def run(options: Options, args: argparse.Namespace, out: TextIO, progress: Progress) -> int:
    names = list(dict.fromkeys(args.stack))  # a name given twice is destroyed once
    if not args.auto_approve and not sys.stdin.isatty():
        raise GitOpsError(
            "destroy needs --auto-approve when standard input is not a terminal; "
            "nothing was destroyed"
        )
    # Imported here: the parser imports this module for add_arguments (see cli.py).
    from infra_gitops import discovery
    from infra_gitops.daemon.pruning import current_actor
    from infra_gitops.daemon.status import RECENT_RUNS, applied_run
    from infra_gitops.session import open_session

    # Every stack is known to the session (dependents are checked against all of them).
    options = replace(options, stacks=())
    with open_session(options, progress) as session:
        manifest = session.manifest
        stacks = [manifest.stack(name) for name in names]
        deployed = {
            s.name
            for s in manifest.stacks
            if applied_run(session.store.list(stack=s.name, limit=RECENT_RUNS)) is not None
        }
        _refuse_deployed_dependents(manifest, set(names), deployed)
        _refuse_held(manifest, names)
        order = _dependents_first(manifest, stacks)
        _warn_auto_apply(order)
        if not args.auto_approve:
            _confirm(order, out)
        runner = replace(session.runner, actor=current_actor())
        outcomes: list[StackOutcome] = []
        for stack in order:
            # A stack whose dependent failed to go is not destroyed from under it.
            users = discovery.with_dependents(manifest.stacks, [stack.name])
            left = [
                o.stack for o in outcomes if o.stack in users and o.status is not RunStatus.APPLIED
            ]
            if left:
                outcomes.append(_not_reached(stack, left[0]))
                continue
            outcome = runner.destroy(stack)
            if outcome.status is RunStatus.APPLIED:
                session.outputs.forget(stack.name)
            outcomes.append(outcome)
    code = exit_code(outcomes, changes_exit_on=(), skipped_is_error=True)
    return emit("destroy", outcomes, code, json_out=args.json, out=out)


def _refuse_deployed_dependents(manifest: Manifest, named: set[str], deployed: set[str]) -> None:
    """A stack other stacks read outputs from or depend on stays while they are
    deployed: destroying it would break them (their next plan cannot read its outputs)."""
    from infra_gitops import discovery

    problems = []
    for name in sorted(named, key=manifest.names.index):
        dependents = discovery.with_dependents(manifest.stacks, [name]) - {name}
        blocking = [n for n in manifest.names if n in dependents - named and n in deployed]
        if blocking:
            problems.append(
                f"{name} is used by {', '.join(blocking)} (deployed; from_stack or "
                "depends_on): destroy them first, or name them in the same command "
                f"(--stack {' --stack '.join(blocking)})"
            )
    if problems:
        raise GitOpsError("not destroying anything: " + "; ".join(problems))


def _refuse_held(manifest: Manifest, names: Sequence[str]) -> None:
    """A sync window that holds applies holds destroys too (no way around it here)."""
    from infra_gitops.daemon.windows import apply_hold

    now = datetime.now(UTC)
    held = [
        f"{name} is {reason}"
        for name in names
        if (reason := apply_hold(manifest.sync_windows, name, now)) is not None
    ]
    if held:
        raise GitOpsError(
            "not destroying anything: " + "; ".join(held) + "; run this again once it allows it"
        )


def _dependents_first(manifest: Manifest, stacks: list[Stack]) -> list[Stack]:
    from infra_gitops import discovery

    wanted = {s.name for s in stacks}
    waves = discovery.dependency_order(manifest.stacks)
    return [s for wave in reversed(waves) for s in wave if s.name in wanted]


def _warn_auto_apply(stacks: list[Stack]) -> None:
    again = [s.name for s in stacks if s.policy.auto_apply]
    if again:
        print(
            f"warning: {', '.join(again)} {'has' if len(again) == 1 else 'have'} auto_apply "
            "on: a daemon following this repo creates "
            f"{'it' if len(again) == 1 else 'them'} again on its next pass, unless removed "
            "from the manifest (then `prune`) or auto_apply is turned off",
            file=sys.stderr,
        )


def _confirm(stacks: list[Stack], out: TextIO) -> None:
    """Each stack's name typed back, as Terraform asks for "yes"; any other answer
    destroys nothing (asked for all before the first destroy)."""
    for stack in stacks:
        print(
            f"\n{stack.name} ({stack.path}): every resource it manages will be destroyed. "
            "This cannot be undone.",
            file=out,
        )
        out.flush()
        answer = input(f"Type the stack name ({stack.name}) to confirm: ")
        if answer.strip() != stack.name:
            raise GitOpsError(
                f"destroy cancelled: the answer is not {stack.name!r}; nothing was destroyed"
            )


def _not_reached(stack: Stack, failed: str) -> StackOutcome:
    return StackOutcome(
        stack.name,
        RunKind.DESTROY,
        RunStatus.SKIPPED,
        error=f"not destroyed: {failed} was not destroyed before it",
    )
