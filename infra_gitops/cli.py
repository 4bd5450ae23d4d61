"""Command-line entry point: argument parsing and the one error boundary.

Expected failures (GitOpsError: bad input, a held lock, an unreachable endpoint) become
a message on stderr and exit 1. Anything else is a bug and keeps its traceback.

Parsing imports nothing heavy: each subcommand is named as "module:function" under
infra_gitops.commands and imported when it runs, so `--help`, `status` and `history`
do not pay for Git, the engines, the AWS SDK or the scheduler.

The conventions a Terraform user expects are kept here, for every subcommand:
- a usage error exits 1, as Terraform's do (exit 2 means "changes": plan, drift, ci plan);
- the global flags go before or after the subcommand (the subcommand's value wins when
  given twice), and each also comes from $INFRA_GITOPS_<FLAG> (a flag wins over it);
- every subcommand's help has a description, examples and the defaults;
- colour on a terminal only (never with $NO_COLOR or --no-color);
- a reader that closes the pipe early (`history | head -1`) ends the command quietly.
"""

# PYTHON_ARGCOMPLETE_OK  (lets argcomplete's global completion find this entry point)

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TextIO, cast

from infra_gitops import __version__, postgres, report
from infra_gitops.commands import (  # light: their parsers only
    accounts,
    daemon,
    destroy,
    promote,
    prune,
    rollback,
    tokens,
    unlock,
)
from infra_gitops.commands.arg_types import (
    add_run_limits,
    non_negative_seconds,
    positive_int,
    positive_seconds,
)
from infra_gitops.errors import GitOpsError
from infra_gitops.options import Options, default_state_dir
from infra_gitops.progress import Progress
from infra_gitops.store.artifacts import CHOICES_HELP, parse_artifact_store

Command = Callable[[Options, argparse.Namespace, TextIO, Progress], int]


ENV_PREFIX = "INFRA_GITOPS_"


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors exit 1, as Terraform's do: exit 2 means
    "changes" to plan, drift and ci plan, and a typo must never read as that.
    Subparsers are made of the same class (add_subparsers takes type(self))."""

    remote_repo = False
    """--repo names a remote (URL or path, kept as text), not the local working tree."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(1, f"{self.prog}: error: {message}\n")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Examples (the epilog) kept as written; every option's default shown, unless its
    help already says it or it has none worth showing (a flag off, an empty list)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        help_text = action.help or ""
        if "default" in help_text or not _shows_default(action):
            return help_text
        return f"{help_text} (default: %(default)s)".lstrip()


def _shows_default(action: argparse.Action) -> bool:
    if action.default in (None, False, [], argparse.SUPPRESS) or action.nargs == 0:
        return False
    return bool(action.option_strings) or action.nargs in (argparse.OPTIONAL, "*")


@dataclass(frozen=True)
class GlobalFlag:
    """A flag every subcommand takes, before or after it, also from $INFRA_GITOPS_<NAME>."""

    dest: str
    flags: tuple[str, ...]
    help: str
    boolean: bool = False
    metavar: str | None = None

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.dest.upper()


GLOBAL_FLAGS = (
    GlobalFlag("repo", ("--repo",), "the infra repo (default: .)", metavar="PATH"),
    GlobalFlag(
        "state_dir",
        ("--state-dir",),
        "where records and working files live (default: $INFRA_GITOPS_HOME, "
        "else ~/.local/state/infra-gitops)",
        metavar="DIR",
    ),
    GlobalFlag(
        "database_url",
        ("--database-url",),
        "PostgreSQL for the run records, shared by daemon replicas (default: SQLite in the "
        "state dir). Keep the password off the command line: use the variable, "
        "$PGPASSWORD or ~/.pgpass",
        metavar="URL",
    ),
    GlobalFlag(
        "artifact_store",
        ("--artifact-store",),
        f"where plans and logs of runs are kept: {CHOICES_HELP} (default: files, or "
        "database with --database-url)",
        metavar="WHERE",
    ),
    GlobalFlag("json", ("--json",), "print a versioned JSON envelope", boolean=True),
    GlobalFlag("quiet", ("-q", "--quiet"), "no progress lines on stderr", boolean=True),
    GlobalFlag(
        "no_color",
        ("--no-color",),
        "no colour, even on a terminal (also: $NO_COLOR set to anything)",
        boolean=True,
    ),
)
GLOBAL_DESTS = frozenset(flag.dest for flag in GLOBAL_FLAGS)

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


def add_global_flags(
    parser: argparse.ArgumentParser, *, default: Any
) -> frozenset[argparse.Action]:
    """The global flags on parser: the top level (default None: "not given", resolved
    later from the environment) or a subcommand (default SUPPRESS: keep what is there)."""
    added = []
    for flag in GLOBAL_FLAGS:
        help_text = f"{flag.help} [env: ${flag.env}]"
        if flag.boolean:
            action = parser.add_argument(
                *flag.flags, dest=flag.dest, action="store_true", default=default, help=help_text
            )
        else:
            action = parser.add_argument(
                *flag.flags, dest=flag.dest, default=default, metavar=flag.metavar, help=help_text
            )
        added.append(action)
    return frozenset(added)


def resolve_globals(
    args: argparse.Namespace, environ: Mapping[str, str] | None = None
) -> argparse.Namespace:
    """args with every global flag's value: the subcommand's, else the top level's, else
    $INFRA_GITOPS_<FLAG>'s, else the default; a bad value is a usage error naming where
    it came from (the flag or the variable)."""
    env = os.environ if environ is None else environ
    command_parser: argparse.ArgumentParser = args.command_parser
    for flag in GLOBAL_FLAGS:
        given = getattr(args, flag.dest, None)
        raw = env.get(flag.env, "")
        if flag.boolean:
            setattr(args, flag.dest, bool(given) or _env_bool(flag.env, raw, command_parser))
            continue
        origin = flag.flags[0]
        if given is None and raw.strip():
            given, origin = raw, f"${flag.env}"
        setattr(args, flag.dest, _converted(flag.dest, given, origin, command_parser))
    for dest in getattr(args, "required_globals", ()):
        if getattr(args, dest) is None:
            flag = next(f for f in GLOBAL_FLAGS if f.dest == dest)
            command_parser.error(
                f"the following arguments are required: {flag.flags[-1]} (or ${flag.env})"
            )
    return args


def _env_bool(name: str, raw: str, parser: argparse.ArgumentParser) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    parser.error(f"${name}: expected 1 or 0 (true/false, yes/no, on/off), got {raw!r}")


def _converted(dest: str, value: Any, origin: str, parser: argparse.ArgumentParser) -> Any:
    """A global flag's value as the commands take it (a local --repo is a Path)."""
    if dest == "repo":
        if getattr(parser, "remote_repo", False):
            return None if value is None else str(value)
        return Path(value if value is not None else ".")
    if dest == "state_dir":
        return None if value is None else Path(value)
    if dest == "database_url" and value is not None:
        try:  # checked here to name the variable; its messages hide the password
            postgres.DatabaseUrl.parse(str(value))
        except postgres.DatabaseError as exc:
            parser.error(f"{origin}: {exc}")
    if dest == "artifact_store" and value is not None:
        try:
            return parse_artifact_store(str(value))
        except ValueError as exc:
            parser.error(f"{origin}: {exc}")
    return value


def build_parser() -> argparse.ArgumentParser:
    # The subcommands' copy of the global flags: no defaults of their own (SUPPRESS), so a
    # value given before the subcommand, or by the environment, is not overwritten.
    common = Parser(add_help=False)
    global_actions = add_global_flags(common, default=argparse.SUPPRESS)

    stacks = Parser(add_help=False)
    stacks.add_argument(
        "--stack",
        action="append",
        default=[],
        metavar="NAME",
        help="only this stack: a name, a glob ('app-*', '*@prod'), or a stack with "
        "environments for all its instances (repeatable; default: all)",
    )
    stacks.add_argument("--ref", default=None, help="plan this commit instead of the working tree")
    stacks.add_argument(
        "--parallelism",
        type=positive_int,
        default=2,
        metavar="N",
        help="stacks worked on at once within a dependency wave (default: 2)",
    )
    add_run_limits(stacks)

    parser = Parser(
        prog="infra-gitops",
        description="GitOps for cloud infrastructure: plan, detect drift, apply and audit "
        "the stacks declared in a Git repo.",
        epilog=_TOP_EXAMPLES,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"infra-gitops {__version__}")
    add_global_flags(parser, default=None)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", parents=[common], help="check gitops.yaml (exit 0 valid, 1 not)")
    p.add_argument(
        "--expand",
        action="store_true",
        help="list every stack the manifest makes, environments expanded (app@prod), with "
        "its path, environment and dependencies",
    )
    p.set_defaults(func="validate:run")
    sub.add_parser(
        "plan", parents=[common, stacks], help="plan stacks (exit 0 no changes, 2 changes, 1 error)"
    ).set_defaults(func="plan:run")
    p = sub.add_parser(
        "drift",
        parents=[common, stacks],
        help="detect changes made outside Git (exit 0 none, 2 drift, 1 error)",
    )
    p.add_argument("--heal", action="store_true", help="apply the Git state back where drifted")
    p.add_argument(
        "--show-ignored",
        action="store_true",
        help="list the drift the stacks' policies expect (ignore_drift), not only count it",
    )
    p.set_defaults(func="drift:run")
    _add_unmanaged(sub, common)
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
    p.add_argument("--stack", default=None, metavar="NAME", help="only this stack's runs")
    p.add_argument("--limit", type=positive_int, default=20, metavar="N", help="runs shown")
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
    p.add_argument(
        "--provider-mirror",
        type=Path,
        default=None,
        metavar="DIR",
        help="with up: run the stacks with the real hashicorp/aws from this provider mirror "
        "(as `terraform providers mirror DIR` makes it) instead of the sandbox provider; "
        "each `sandbox up` chooses again (default: the sandbox provider) "
        "[env: $INFRA_GITOPS_PROVIDER_MIRROR]",
    )
    p.set_defaults(func="sandbox_cmd:run")
    sub.add_parser(
        "schema", parents=[common], help="print the JSON Schema of gitops.yaml"
    ).set_defaults(func="schema_cmd:run")
    _add_daemon_commands(sub, common)
    accounts.add_parsers(sub, common)
    tokens.add_parsers(sub, common)
    _add_completion(sub, common)
    for path, summary, leaf in _leaf_parsers(parser):
        _finish_subcommand(path, summary, leaf, global_actions)
    return parser


def _leaf_parsers(
    parser: argparse.ArgumentParser, path: str = ""
) -> Iterator[tuple[str, str, argparse.ArgumentParser]]:
    """(command path such as "ci plan", its one-line help, its parser) for every command
    that runs something, depth first."""
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        summaries = {choice.dest: choice.help or "" for choice in action._choices_actions}
        for name, child in action.choices.items():
            child_path = f"{path} {name}".strip()
            if any(isinstance(a, argparse._SubParsersAction) for a in child._actions):
                child.formatter_class = HelpFormatter
                child.description = child.description or _sentence(summaries.get(name, ""))
                child.epilog = child.epilog or _EXAMPLES.get(child_path)
                yield from _leaf_parsers(child, child_path)
            else:
                yield child_path, summaries.get(name, ""), child


def _finish_subcommand(
    path: str,
    summary: str,
    leaf: argparse.ArgumentParser,
    global_actions: frozenset[argparse.Action],
) -> None:
    """The conventions every subcommand follows, whoever added it: its help has a
    description, examples and defaults; a global flag it defines itself (the daemon's
    --repo, a remote) also yields to a value given before it or by the environment."""
    leaf.formatter_class = HelpFormatter
    leaf.description = leaf.description or _sentence(summary)
    leaf.epilog = leaf.epilog or _EXAMPLES.get(path)
    required: list[str] = []
    for action in leaf._actions:
        if action.help is None and _shows_default(action):
            action.help = "(default: %(default)s)"
        if action.dest not in GLOBAL_DESTS or action in global_actions:
            continue
        if action.dest == "repo" and isinstance(leaf, Parser):
            leaf.remote_repo = True
        if action.required:
            action.required = False
            required.append(action.dest)
        action.default = argparse.SUPPRESS
    leaf.set_defaults(command_parser=leaf, required_globals=tuple(required))


def _sentence(summary: str) -> str:
    return summary[:1].upper() + summary[1:] + "." if summary else ""


def _add_completion(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("completion", parents=[common], help="print a shell completion script")
    p.add_argument(
        "shell",
        nargs="?",
        choices=["bash", "zsh", "fish"],
        default=None,
        help="the shell (default: the one $SHELL names)",
    )
    p.set_defaults(func="completion:run")


def _examples(*lines: str) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


_TOP_EXAMPLES = (
    _examples(
        "infra-gitops plan                      # what would change, per stack",
        "infra-gitops --state-dir /var/lib/ig status",
        "INFRA_GITOPS_JSON=1 infra-gitops history --limit 5",
        "infra-gitops COMMAND --help            # each command's flags and examples",
    )
    + "\n\nexit codes: 0 success, 1 error (a usage error too),"
    "\n            2 changes (plan, drift, ci plan)."
    "\nThe global flags go before or after COMMAND, and each also comes from"
    "\n$INFRA_GITOPS_<FLAG> ($INFRA_GITOPS_STATE_DIR; =1 for --json, -q, --no-color)."
    "\nA flag wins over its variable."
)

_EXAMPLES = {
    "validate": _examples(
        "infra-gitops validate",
        "infra-gitops validate --repo ./infra --json",
        "infra-gitops validate --expand",
    ),
    "plan": _examples(
        "infra-gitops plan",
        "infra-gitops plan --stack network --stack app",
        "infra-gitops plan --ref origin/main --json > plan.json",
    ),
    "drift": _examples("infra-gitops drift", "infra-gitops drift --stack app --heal"),
    "unmanaged": _examples(
        "infra-gitops unmanaged                         # every type the stacks manage",
        "infra-gitops unmanaged 'prod-*' --json --show-ignored",
        "infra-gitops unmanaged --adopt-into storage --only aws_s3_bucket:hand-made",
    ),
    "apply": _examples(
        "infra-gitops apply --stack app",
        "infra-gitops apply --auto-approve",
        "infra-gitops apply --from-plan --store s3://plans/infra --auto-approve",
    ),
    "ci": _examples("infra-gitops ci plan --store s3://plans/infra"),
    "ci plan": _examples(
        "infra-gitops ci plan --store s3://plans/infra",
        "infra-gitops ci plan --base origin/main --head HEAD --markdown plan.md",
        "infra-gitops ci plan --policy-only",
    ),
    "history": _examples("infra-gitops history", "infra-gitops history --stack app --limit 5"),
    "show": _examples(
        "infra-gitops show 20260101T120000-app-ab12",
        "infra-gitops show 20260101T120000-app-ab12 --artifact plan.json > plan.json",
    ),
    "sandbox": _examples(
        "infra-gitops sandbox up",
        "infra-gitops sandbox up --provider-mirror /opt/tf-plugins   # the real hashicorp/aws",
        "infra-gitops sandbox status --json",
    ),
    "schema": _examples("infra-gitops schema > gitops.schema.json"),
    "daemon": _examples(
        "infra-gitops daemon --repo https://git.example.com/infra.git",
        "INFRA_GITOPS_DATABASE_URL=postgresql://ig@db/ig infra-gitops daemon --repo URL "
        "--state-dir /var/lib/ig",
    ),
    "status": _examples("infra-gitops status", "infra-gitops status --stack app --json"),
    "rollback": _examples(
        "infra-gitops rollback app --to ab12cd3 --reason 'bad release'",
        "infra-gitops rollback app --to ab12cd3 --pause",
    ),
    "promote": _examples(
        "infra-gitops promote app --from staging --to prod",
        "infra-gitops promote app --from dev --to staging --push --state-dir /srv/ig",
    ),
    "prune": _examples("infra-gitops prune old-stack --confirm"),
    "destroy": _examples(
        "infra-gitops destroy --stack app                    # asks to type 'app' back",
        "infra-gitops destroy --stack app --stack storage --auto-approve   # app first",
    ),
    "unlock": _examples(
        "infra-gitops unlock --stack storage 6f1c2d3e-...   # the ID the state lock error printed",
        "infra-gitops unlock --stack storage 6f1c2d3e-... --auto-approve   # in a script",
    ),
    "accounts": _examples(
        "infra-gitops accounts add alice --role admin",
        "infra-gitops accounts list",
    ),
    "accounts add": _examples(
        "infra-gitops accounts add alice --role admin          # asks the password twice",
        "infra-gitops accounts add bob --role operator:app-* --role readonly",
        "infra-gitops accounts add ci --role readonly --password-stdin < password.txt",
    ),
    "accounts list": _examples("infra-gitops accounts list", "infra-gitops accounts list --json"),
    "accounts passwd": _examples(
        "infra-gitops accounts passwd alice",
        "infra-gitops accounts passwd alice --password-stdin < password.txt",
    ),
    "accounts roles": _examples("infra-gitops accounts roles bob --role operator:app-*"),
    "accounts disable": _examples("infra-gitops accounts disable bob"),
    "accounts enable": _examples("infra-gitops accounts enable bob   # also lifts a lockout"),
    "accounts remove": _examples("infra-gitops accounts remove bob"),
    "tokens": _examples("infra-gitops tokens create --account ci --expires 30d"),
    "tokens create": _examples(
        "infra-gitops tokens create --account ci --expires 30d --name nightly",
        "TOKEN=$(infra-gitops tokens create --account ci --expires 12h)   # in a script",
        'curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/api/stacks',
    ),
    "tokens list": _examples("infra-gitops tokens list", "infra-gitops tokens list --account ci"),
    "tokens revoke": _examples("infra-gitops tokens revoke 3f9a1c0b2d4e"),
    "completion": _examples(
        "infra-gitops completion bash > ~/.local/share/bash-completion/completions/infra-gitops",
        "source <(infra-gitops completion bash)      # or this, in ~/.bashrc",
        "infra-gitops completion zsh > ~/.zfunc/_infra-gitops",
        "infra-gitops completion fish > ~/.config/fish/completions/infra-gitops.fish",
    ),
}
"""Examples shown under each command's help, by command path."""


_STORE_HELP = (
    "where plans are stored for apply --from-plan: a directory or s3://BUCKET/PREFIX "
    "(default: $INFRA_GITOPS_PLAN_STORE, else STATE_DIR/stored-plans)"
)


def _add_unmanaged(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "unmanaged",
        parents=[common],
        help="list resources no stack manages (exit 0 none, 2 found, 1 error)",
    )
    p.add_argument(
        "stack_globs",
        nargs="*",
        metavar="STACK-GLOB",
        help="scan only the types these stacks manage (names or globs; default: every "
        "stack); every declared stack's state still counts as managed",
    )
    p.add_argument(
        "--show-ignored",
        action="store_true",
        help="also list what the manifest's ignore rules leave out, with the rule",
    )
    p.add_argument(
        "--adopt-into",
        default=None,
        metavar="STACK",
        help="write import blocks and the generated configuration of the unmanaged "
        "resources into this stack's directory of the checkout (nothing is applied)",
    )
    p.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="TYPE:ID",
        help="with --adopt-into: only this resource (repeatable), as listed: "
        "aws_s3_bucket:my-bucket",
    )
    p.add_argument(
        "--parallelism",
        type=positive_int,
        default=2,
        metavar="N",
        help="stacks whose state is read at once (default: 2)",
    )
    add_run_limits(p)
    p.set_defaults(func="unmanaged:run")


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
    remote_common = Parser(add_help=False)
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
    p.add_argument(
        "--stack",
        action="append",
        default=[],
        metavar="NAME",
        help="only this stack, a glob, or a stack's environments (repeatable)",
    )
    p.set_defaults(func="status:run")
    p = sub.add_parser(
        "rollback",
        parents=[remote_common],
        help="bring a stack back to what a commit declared, and keep it there",
    )
    rollback.add_arguments(p)
    p.set_defaults(func="rollback:run")
    p = sub.add_parser(
        "promote",
        parents=[common],
        help="pin an environment to the revision another has applied, as a commit "
        "(exit 0 promoted, 1 refused)",
    )
    promote.add_arguments(p)
    p.set_defaults(func="promote:run")
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
    parser = build_parser()
    if "_ARGCOMPLETE" in os.environ:  # a shell asking for completions: answer and exit
        import argcomplete

        argcomplete.autocomplete(parser)
    args = resolve_globals(parse(parser, argv))
    report.set_colour(_wants_colour(args, out))
    progress = Progress(enabled=not args.quiet)
    command = command_of(args.func)
    try:
        code = command(options_from(args), args, out, progress)
        out.flush()  # a closed pipe shows here, not as a message at interpreter exit
        return code
    except BrokenPipeError:
        return _reader_went_away()
    except GitOpsError as exc:
        if args.json:
            print(report.envelope(args.command, 1, {"error": str(exc)}), file=out)
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """parser.parse_args, but an unknown argument is reported with the usage of the
    subcommand it was given to (argparse would show the top level's)."""
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        args.command_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    return args


def _wants_colour(args: argparse.Namespace, out: TextIO) -> bool:
    """Colour for a person at a terminal: not into a pipe or file, not with $NO_COLOR
    (set to anything, https://no-color.org) nor --no-color."""
    if args.no_color or "NO_COLOR" in os.environ:
        return False
    isatty = getattr(out, "isatty", None)
    return bool(isatty and isatty())


def _reader_went_away() -> int:
    """The reader closed the pipe (`history | head -1`): it has what it wanted, so end
    quietly with 0. Not 141 (SIGPIPE): CI shells run with pipefail (GitHub Actions'
    bash does), where 141 would fail a step whose output was read as intended. Whatever
    is still buffered goes to /dev/null so the interpreter's last flush cannot fail."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):
        pass  # not a real file descriptor (a test's StringIO): nothing to flush later
    finally:
        os.close(devnull)
    return 0


if __name__ == "__main__":
    sys.exit(main())
