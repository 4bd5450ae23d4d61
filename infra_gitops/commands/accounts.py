"""`infra-gitops accounts add|list|passwd|roles|disable|enable|remove`: the local accounts
people log in to the web UI with, kept in the run store's database (--state-dir's SQLite
or --database-url's PostgreSQL, shared by replicas).

A password is never a flag's value (it would sit in the shell history and `ps`): it is
asked twice at a terminal, or read from stdin with --password-stdin.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, TextIO

from infra_gitops import report
from infra_gitops.errors import GitOpsError
from infra_gitops.options import Options
from infra_gitops.progress import Progress

if TYPE_CHECKING:
    from infra_gitops.auth.accounts import Account
    from infra_gitops.auth.store import AuthPolicy, AuthStore

_ROLE_HELP = (
    "ROLE or ROLE:GLOB, repeatable: readonly (see), operator (and sync, refresh, heal), "
    "admin (and rollback, pause/resume, prune, accounts, tokens); :GLOB limits it to the "
    "stacks whose names match (operator:app-*); accounts and tokens need admin on every "
    "stack"
)


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    group = sub.add_parser("accounts", help="local accounts of the web UI and API, and roles")
    accounts = group.add_subparsers(
        dest="accounts_command", required=True, metavar="ACCOUNTS_COMMAND"
    )
    p = accounts.add_parser("add", parents=[common], help="add an account with its roles")
    p.add_argument("name", metavar="NAME")
    _add_roles(p)
    _add_password_stdin(p)
    p.set_defaults(func="accounts:add")
    accounts.add_parser(
        "list", parents=[common], help="the accounts, their roles and state (no secrets)"
    ).set_defaults(func="accounts:list_accounts")
    p = accounts.add_parser(
        "passwd", parents=[common], help="set an account's password (ends its sessions)"
    )
    p.add_argument("name", metavar="NAME")
    _add_password_stdin(p)
    p.set_defaults(func="accounts:passwd")
    p = accounts.add_parser("roles", parents=[common], help="replace an account's roles")
    p.add_argument("name", metavar="NAME")
    _add_roles(p)
    p.set_defaults(func="accounts:roles")
    for action, summary in (
        ("disable", "refuse an account's logins and tokens, and end its sessions"),
        ("enable", "allow a disabled or locked-out account again"),
        ("remove", "remove an account with its tokens and sessions"),
    ):
        p = accounts.add_parser(action, parents=[common], help=summary)
        p.add_argument("name", metavar="NAME")
        p.set_defaults(func=f"accounts:{action}")


def _add_roles(p: argparse.ArgumentParser) -> None:
    p.add_argument("--role", action="append", required=True, metavar="ROLE[:GLOB]", help=_ROLE_HELP)


def _add_password_stdin(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from stdin (one line) instead of asking at the terminal",
    )


@contextmanager
def open_auth(options: Options, policy: AuthPolicy | None = None) -> Iterator[AuthStore]:
    """The auth store of the common flags' database. Imported here: argon2 and the store
    load only when an auth command runs, not for every command's parsing."""
    from infra_gitops.auth.store import AuthStore

    with AuthStore.open(options.state_dir, options.database_url, policy=policy) as auth:
        yield auth


def command_name(args: argparse.Namespace) -> str:
    """ "accounts add", "tokens create": the name a --json envelope carries."""
    sub = getattr(args, f"{args.command}_command", None)
    return f"{args.command} {sub}" if sub else str(args.command)


def add(options: Options, args: argparse.Namespace, out: TextIO, progress: Progress) -> int:
    grants = _grants(args.role)
    password = _new_password(args, args.name)
    with open_auth(options) as auth:
        account = auth.accounts.add(args.name, password, grants)
    return _print_account(args, out, account, f"added account {account.name}")


def list_accounts(
    options: Options, args: argparse.Namespace, out: TextIO, progress: Progress
) -> int:
    with open_auth(options) as auth:
        found = auth.accounts.list()
    header = ("NAME", "ROLES", "STATE", "CREATED", "LAST LOGIN")
    rows = [
        (a.name, _roles(a), _state(a), when(a.created_at), when(a.last_login_at)) for a in found
    ]
    empty = "no accounts yet: infra-gitops accounts add NAME --role ROLE"
    return print_listing(args, out, {"accounts": [a.to_dict() for a in found]}, empty, header, rows)


def print_listing(
    args: argparse.Namespace,
    out: TextIO,
    data: dict[str, Any],
    empty: str,
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
) -> int:
    """A listing as the JSON envelope (data), a table, or the empty line."""
    if args.json:
        print(report.envelope(command_name(args), 0, data), file=out)
    else:
        print(report.table(header, rows) if rows else empty, file=out)
    return 0


def passwd(options: Options, args: argparse.Namespace, out: TextIO, progress: Progress) -> int:
    with open_auth(options) as auth:
        auth.accounts.get(args.name)  # an unknown name fails before the prompt
        password = _new_password(args, args.name)
        auth.accounts.set_password(args.name, password)
        account = auth.accounts.get(args.name)
    return _print_account(args, out, account, f"new password set for {args.name}")


def roles(options: Options, args: argparse.Namespace, out: TextIO, progress: Progress) -> int:
    grants = _grants(args.role)
    with open_auth(options) as auth:
        account = auth.accounts.set_grants(args.name, grants)
    return _print_account(args, out, account, f"roles of {args.name}: {_roles(account)}")


def disable(options: Options, args: argparse.Namespace, out: TextIO, progress: Progress) -> int:
    with open_auth(options) as auth:
        account = auth.accounts.set_disabled(args.name, True)
    return _print_account(args, out, account, f"disabled {args.name}")


def enable(options: Options, args: argparse.Namespace, out: TextIO, progress: Progress) -> int:
    with open_auth(options) as auth:
        account = auth.accounts.set_disabled(args.name, False)
    return _print_account(args, out, account, f"enabled {args.name}")


def remove(options: Options, args: argparse.Namespace, out: TextIO, progress: Progress) -> int:
    with open_auth(options) as auth:
        tokens = auth.accounts.remove(args.name)
    if args.json:
        data = {"removed": args.name, "tokens_removed": tokens}
        print(report.envelope(command_name(args), 0, data), file=out)
    else:
        print(f"removed account {args.name} and {tokens} token(s)", file=out)
    return 0


# ---------------------------------------------------------------- helpers


def _grants(texts: list[str]) -> Any:
    from infra_gitops.auth.rbac import GrantError, parse_grants

    try:
        return parse_grants(texts)
    except GrantError as exc:
        raise GitOpsError(f"--role: {exc}") from None


def _new_password(args: argparse.Namespace, name: str) -> str:
    if args.password_stdin:
        text = sys.stdin.read()
        password = text[:-1] if text.endswith("\n") else text
        password = password[:-1] if password.endswith("\r") else password
        if "\n" in password:
            raise GitOpsError("--password-stdin: expected one line, got several")
        return password
    if not sys.stdin.isatty():
        raise GitOpsError("no terminal to ask the password at: pipe it in with --password-stdin")
    first = getpass.getpass(f"Password for {name}: ")
    if getpass.getpass("Again, to confirm: ") != first:
        raise GitOpsError("the two passwords differ: nothing was changed")
    return first


def _print_account(args: argparse.Namespace, out: TextIO, account: Account, line: str) -> int:
    if args.json:
        print(report.envelope(command_name(args), 0, {"account": account.to_dict()}), file=out)
    else:
        print(line, file=out)
    return 0


def _roles(account: Account) -> str:
    return " ".join(str(g) for g in account.grants)


def _state(account: Account) -> str:
    from infra_gitops.auth.clock import utc_now

    if account.disabled:
        return "disabled"
    if account.locked_until is not None and account.locked_until > utc_now():
        return f"locked until {when(account.locked_until)}"
    return "active"


def when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")
