"""`infra-gitops tokens create|list|revoke`: API tokens for scripts and curl
(`Authorization: Bearer igt_...`), acting as their account.

`create` prints the token once, alone on stdout (TOKEN=$(infra-gitops tokens create ...));
only its SHA-256 is kept, so a lost token is revoked and replaced, never shown again.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, TextIO

from infra_gitops import report
from infra_gitops.commands.accounts import command_name, open_auth, print_listing, when
from infra_gitops.errors import GitOpsError
from infra_gitops.options import Options
from infra_gitops.progress import Progress

MAX_EXPIRES_ENV = "INFRA_GITOPS_TOKEN_MAX_EXPIRES"
DEFAULT_MAX_EXPIRES = "365d"


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    group = sub.add_parser("tokens", help="API tokens for scripts: create, list, revoke")
    tokens = group.add_subparsers(dest="tokens_command", required=True, metavar="TOKENS_COMMAND")
    p = tokens.add_parser(
        "create", parents=[common], help="create a token for an account and print it once"
    )
    p.add_argument("--account", required=True, metavar="NAME", help="the account it acts as")
    p.add_argument(
        "--expires",
        required=True,
        metavar="LIFETIME",
        help="how long it is valid, e.g. 12h, 30d, 8w (required; at most "
        f"${MAX_EXPIRES_ENV}, default {DEFAULT_MAX_EXPIRES})",
    )
    p.add_argument("--name", default="", metavar="LABEL", help="what it is for, shown by list")
    p.set_defaults(func="tokens:create")
    p = tokens.add_parser(
        "list", parents=[common], help="the tokens: id, name, account, dates (never the token)"
    )
    p.add_argument("--account", default=None, metavar="NAME", help="only this account's")
    p.set_defaults(func="tokens:list_tokens")
    p = tokens.add_parser("revoke", parents=[common], help="revoke a token by its id")
    p.add_argument("token_id", metavar="ID", help="the id `tokens list` shows")
    p.set_defaults(func="tokens:revoke")


def create(options: Options, args: argparse.Namespace, out: TextIO, progress: Progress) -> int:
    from infra_gitops.auth.store import AuthPolicy
    from infra_gitops.auth.tokens import parse_lifetime

    lifetime = _lifetime(parse_lifetime, "--expires", args.expires)
    longest = _lifetime(
        parse_lifetime,
        f"${MAX_EXPIRES_ENV}",
        os.environ.get(MAX_EXPIRES_ENV) or DEFAULT_MAX_EXPIRES,
    )
    with open_auth(options, AuthPolicy(token_max_lifetime=longest)) as auth:
        new = auth.tokens.create(args.account, lifetime, args.name)
        now = new.info.created_at
    if args.json:
        # The one place a token is ever output: the envelope of its creation.
        data = {"token": new.secret, **new.info.to_dict(now)}
        print(report.envelope(command_name(args), 0, data), file=out)
    else:
        print(new.secret, file=out)
        print(
            f"token {new.info.id} for {new.info.account}, valid until "
            f"{when(new.info.expires_at)}: copy it now, it is not shown again",
            file=sys.stderr,
        )
    return 0


def list_tokens(options: Options, args: argparse.Namespace, out: TextIO, progress: Progress) -> int:
    from infra_gitops.auth.clock import utc_now

    with open_auth(options) as auth:
        found = auth.tokens.list(args.account)
    now = utc_now()
    header = ("ID", "NAME", "ACCOUNT", "STATE", "CREATED", "EXPIRES", "LAST USED")
    rows = [
        (
            t.id,
            t.name or "-",
            t.account,
            t.state(now),
            when(t.created_at),
            when(t.expires_at),
            when(t.last_used_at),
        )
        for t in found
    ]
    data = {"tokens": [t.to_dict(now) for t in found]}
    return print_listing(args, out, data, "no tokens", header, rows)


def revoke(options: Options, args: argparse.Namespace, out: TextIO, progress: Progress) -> int:
    from infra_gitops.auth.clock import utc_now

    with open_auth(options) as auth:
        info = auth.tokens.revoke(args.token_id)
    if args.json:
        print(report.envelope(command_name(args), 0, {"token": info.to_dict(utc_now())}), file=out)
    else:
        print(f"revoked token {info.id} of {info.account}", file=out)
    return 0


def _lifetime(parse: Any, where: str, text: str) -> Any:
    try:
        return parse(text)
    except ValueError as exc:
        raise GitOpsError(f"{where}: {exc}") from None
