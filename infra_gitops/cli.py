"""Command-line entry point: argument parsing and the one error boundary.

Expected failures (GitOpsError: bad input, a held lock, an unreachable endpoint) become
a message on stderr and exit 1. Anything else is a bug and keeps its traceback.

Parsing imports nothing heavy: each subcommand is named as "module:function" under
infra_gitops.commands and imported when it runs, so `--help`, `status` and `history`
do not pay for Git, the engines, the AWS SDK or the scheduler.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO, cast

from infra_gitops import __version__, postgres, report
from infra_gitops.commands import daemon, destroy, prune, rollback, unlock  # light: add_arguments
from infra_gitops.commands.arg_types import non_negative_seconds, positive_int, positive_seconds
from infra_gitops.errors import GitOpsError
from infra_gitops.options import Options, default_state_dir
from infra_gitops.progress import Progress
from infra_gitops.store.artifacts import CHOICES_HELP, parse_artifact_store

Command = Callable[[Options, argparse.Namespace, TextIO, Progress], int]


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--repo", type=Path, default=Path("."), help="the infra repo (default: .)")
    common.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="where records and working files live (default: $INFRA_GITOPS_HOME "
        "or ~/.local/state/infra-gitops)",
    )
    common.add_argument(
        "--database-url",
        default=None,
        metavar="URL",
        help="PostgreSQL for the run records, shared by daemon replicas "
        f"(default: ${postgres.DATABASE_URL_ENV}; else SQLite in the state dir). Keep the "
        "password off the command line: use the variable, $PGPASSWORD or ~/.pgpass",
    )
    common.add_argument(
        "--artifact-store",
        type=_artifact_store,
        default=None,
        metavar="WHERE",
        help=f"where plans and logs of runs are kept: {CHOICES_HELP} (default: files, "
        "or database with --database-url)",
    )
    common.add_argument("--json", action="store_true", help="print a versioned JSON envelope")
    common.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")

    stacks = argparse.ArgumentParser(add_help=False)
    stacks.add_argument(
        "--stack",
        action="append",
        default=[],
        metavar="NAME",
        help="only this stack (repeatable; default: all)",
    )
    stacks.add_argument("--ref", default=None, help="plan this commit instead of the working tree")
    stacks.add_argument(
        "--parallelism",
        type=positive_int,
        default=2,
        metavar="N",
        help="stacks worked on at once within a dependency wave (default: 2)",
    )
    stacks.add_argument(
        "--timeout",
        type=positive_seconds,
        default=1800.0,
        metavar="SECONDS",
        help="limit for each engine command (default: 1800)",
    )
    stacks.add_argument(
        "--lock-wait",
        type=non_negative_seconds,
        default=0.0,
        metavar="SECONDS",
        help="wait this long for a stack held by another run (default: 0)",
    )

    parser = argparse.ArgumentParser(
        prog="infra-gitops",
        description="GitOps for cloud infrastructure: plan, detect drift, apply and audit "
        "the stacks declared in a Git repo.",
    )
    parser.add_argument("--version", action="version", version=f"infra-gitops {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser(
        "validate", parents=[common], help="check gitops.yaml (exit 0 valid, 1 not)"
    ).set_defaults(func="validate:run")
    sub.add_parser(
        "plan", parents=[common, stacks], help="plan stacks (exit 0 no changes, 2 changes, 1 error)"
    ).set_defaults(func="plan:run")
    p = sub.add_parser(
        "drift",
        parents=[common, stacks],
        help="detect changes made outside Git (exit 0 none, 2 drift, 1 error)",
    )
    p.add_argument("--heal", action="store_true", help="apply the Git state back where drifted")
    p.set_defaults(func="drift:run")
    p = sub.add_parser(
        "apply", parents=[common, stacks], help="plan and apply, in dependency order"
    )
    p.add_argument("--auto-approve", action="store_true", help="apply without asking")
    p.add_argument(
        "--from-plan",
        action="store_true",
        help="apply exactly the plans `ci plan` stored for a commit (after the merge)",
    )
    p.add_argument("--store", default=None, metavar="DIR_OR_S3_URL", help=_STORE_HELP)
    p.add_argument(
        "--sha",
        default=None,
        help="with --from-plan: the planned commit (default: HEAD, or the branch HEAD merged)",
    )
    p.set_defaults(func="apply:run")
    _add_ci(sub, common)
    p = sub.add_parser("history", parents=[common], help="the audit trail, newest first")
    p.add_argument("--stack", default=None, metavar="NAME")
    p.add_argument("--limit", type=positive_int, default=20, metavar="N")
    p.set_defaults(func="history:run")
    p = sub.add_parser("show", parents=[common], help="one run in detail")
    p.add_argument("run_id", metavar="RUN_ID")
    p.add_argument(
        "--artifact",
        default=None,
        metavar="NAME",
        help="print this artifact of the run (e.g. plan.json, log.txt) as it was kept",
    )
    p.set_defaults(func="history:show")
    p = sub.add_parser(
        "sandbox", parents=[common], help="the offline local cloud (moto + provider)"
    )
    p.add_argument("action", choices=["up", "down", "status"])
    p.set_defaults(func="sandbox_cmd:run")
    sub.add_parser(
        "schema", parents=[common], help="print the JSON Schema of gitops.yaml"
    ).set_defaults(func="schema_cmd:run")
    _add_daemon_commands(sub, common)
    return parser


def _artifact_store(text: str) -> str:
    try:
        return parse_artifact_store(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


_STORE_HELP = (
    "where plans are stored for apply --from-plan: a directory or s3://BUCKET/PREFIX "
    "(default: $INFRA_GITOPS_PLAN_STORE, else STATE_DIR/stored-plans)"
)


def _add_ci(sub: Any, common: argparse.ArgumentParser) -> None:
    ci_parser = sub.add_parser("ci", help="CI jobs: plan on pull requests")
    ci_sub = ci_parser.add_subparsers(dest="ci_command", required=True, metavar="CI_COMMAND")
    # --stack and --ref make no sense here: the pull request decides what is planned.
    p = ci_sub.add_parser(
        "plan",
        parents=[common],
        help="plan the stacks a pull request affects and report on it "
        "(exit 0 no changes, 2 changes, 1 error or policy violation)",
    )
    p.add_argument("--base", default=None, help="target branch or commit (default: from CI)")
    p.add_argument("--head", default=None, help="commit to plan (default: from CI, else HEAD)")
    p.add_argument("--markdown", type=Path, default=None, metavar="FILE", help="write the report")
    p.add_argument("--store", default=None, metavar="DIR_OR_S3_URL", help=_STORE_HELP)
    p.add_argument(
        "--policy-only",
        action="store_true",
        help="plan and check policies only: store no plan, post no comment or status",
    )
    p.add_argument(
        "--require-comment",
        action="store_true",
        help="fail (exit 1) when the comment or status cannot be posted",
    )
    p.add_argument(
        "--parallelism", type=positive_int, default=2, metavar="N", help="stacks at once"
    )
    p.add_argument("--timeout", type=positive_seconds, default=1800.0, metavar="SECONDS")
    p.add_argument("--lock-wait", type=non_negative_seconds, default=0.0, metavar="SECONDS")
    p.set_defaults(func="ci:run")


def _add_daemon_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    # The daemon and rollback take a remote (URL or path) as --repo, not a local Path.
    remote_common = argparse.ArgumentParser(add_help=False)
    for action in common._actions:
        if action.dest != "repo":
            remote_common._add_action(action)
    p = sub.add_parser(
        "daemon",
        parents=[remote_common],
        help="pull the infra repo, reconcile continuously, heal drift (until SIGTERM)",
    )
    p.add_argument("--repo", required=True, metavar="URL_OR_PATH", help="the remote to follow")
    daemon.add_arguments(p)
    p.set_defaults(func="daemon:run")
    p = sub.add_parser(
        "status", parents=[common], help="every stack's sync status, from the records"
    )
    p.add_argument("--stack", action="append", default=[], metavar="NAME")
    p.set_defaults(func="status:run")
    p = sub.add_parser(
        "rollback",
        parents=[remote_common],
        help="bring a stack back to what a commit declared, and keep it there",
    )
    rollback.add_arguments(p)
    p.set_defaults(func="rollback:run")
    p = sub.add_parser(
        "prune",
        parents=[common],
        help="destroy a stack gone from the manifest (prune: confirm), as a person",
    )
    prune.add_arguments(p)
    p.set_defaults(func="prune:run")
    p = sub.add_parser(
        "destroy",
        parents=[common],
        help="destroy stacks still declared, after typing each name back (exit 0 or 1)",
    )
    destroy.add_arguments(p)
    p.set_defaults(func="destroy:run")
    p = sub.add_parser(
        "unlock",
        parents=[common],
        help="release a stack's Terraform state lock by ID, after typing it back",
    )
    unlock.add_arguments(p)
    p.set_defaults(func="unlock:run")


def options_from(args: argparse.Namespace) -> Options:
    return Options(
        repo=args.repo,
        state_dir=(args.state_dir or default_state_dir()).resolve(),
        ref=getattr(args, "ref", None),
        stacks=tuple(getattr(args, "stack", None) or ()),
        parallelism=getattr(args, "parallelism", 2),
        timeout=getattr(args, "timeout", 1800.0),
        lock_wait=getattr(args, "lock_wait", 0.0),
        database_url=postgres.url_from(getattr(args, "database_url", None)),
        artifact_store=getattr(args, "artifact_store", None),
    )


def command_of(spec: str) -> Command:
    """The function "module:function" names in infra_gitops.commands, imported now."""
    module, function = spec.split(":")
    return cast(
        Command, getattr(importlib.import_module(f"infra_gitops.commands.{module}"), function)
    )


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    args = build_parser().parse_args(argv)
    progress = Progress(enabled=not args.quiet)
    command = command_of(args.func)
    try:
        return command(options_from(args), args, out, progress)
    except GitOpsError as exc:
        if args.json:
            print(report.envelope(args.command, 1, {"error": str(exc)}), file=out)
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
