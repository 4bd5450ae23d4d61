"""`accounts` and `tokens` as real CLI processes on SQLite (--state-dir) and PostgreSQL
(--database-url), checked as an operator would: exit codes, the listings, logins and
tokens that work or are refused, and no password or token in any output or on disk
(the one-time print of a new token aside)."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from infra_gitops.auth.errors import Reason, Refused
from infra_gitops.auth.rbac import parse_grants
from infra_gitops.auth.store import AuthStore
from infra_gitops.postgres import DatabaseUrl

PASSWORD = "correct horse battery"
NEW_PASSWORD = "staple-again-2026"
_CLEAN = {k: v for k, v in os.environ.items() if not k.startswith("INFRA_GITOPS_")}


@dataclass
class Cli:
    """The infra-gitops command on one database; every output kept for the secrets check."""

    state: Path
    url: DatabaseUrl | None
    outputs: list[str] = field(default_factory=list)

    def __call__(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        flags = ["--state-dir", str(self.state)]
        if self.url is not None:
            flags += ["--database-url", self.url.dsn]
        done = subprocess.run(
            [sys.executable, "-m", "infra_gitops.cli", *args, *flags],
            env=_CLEAN,
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        self.outputs += [done.stdout, done.stderr]
        return done

    def ok(self, *args: str, stdin: str | None = None) -> str:
        done = self(*args, stdin=stdin)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json"))["result"]


@pytest.fixture
def cli(tmp_path: Path, records_url: DatabaseUrl | None) -> Cli:
    return Cli(tmp_path / "state", records_url)


def test_accounts_from_add_to_remove(cli: Cli) -> None:
    cli.ok("accounts", "add", "alice", "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n")
    cli.ok(
        "accounts", "add", "bob", "--role", "operator:app-*", "--role", "readonly",
        "--password-stdin", stdin=PASSWORD,
    )  # fmt: skip

    listed = cli.json("accounts", "list")["accounts"]
    assert [(a["name"], a["roles"], a["disabled"]) for a in listed] == [
        ("alice", ["admin:*"], False),
        ("bob", ["operator:app-*", "readonly:*"], False),
    ]
    assert re.search(
        r"^bob\s+operator:app-\* readonly:\*\s+active", cli.ok("accounts", "list"), re.M
    )
    assert login(cli, "bob", PASSWORD).name == "bob"

    cli.ok("accounts", "passwd", "bob", "--password-stdin", stdin=NEW_PASSWORD + "\n")
    assert refused(cli, "bob", PASSWORD) is Reason.BAD_CREDENTIALS
    assert login(cli, "bob", NEW_PASSWORD).name == "bob"

    cli.ok("accounts", "roles", "bob", "--role", "readonly")
    assert [str(g) for g in login(cli, "bob", NEW_PASSWORD).grants] == ["readonly:*"]

    cli.ok("accounts", "disable", "bob")
    assert refused(cli, "bob", NEW_PASSWORD) is Reason.DISABLED
    assert "disabled" in cli.ok("accounts", "list")
    cli.ok("accounts", "enable", "bob")
    assert login(cli, "bob", NEW_PASSWORD).name == "bob"

    cli.ok("accounts", "remove", "bob")
    assert [a["name"] for a in cli.json("accounts", "list")["accounts"]] == ["alice"]
    assert refused(cli, "bob", NEW_PASSWORD) is Reason.BAD_CREDENTIALS
    assert_no_secrets(cli, [PASSWORD, NEW_PASSWORD])


def test_tokens_create_list_revoke(cli: Cli) -> None:
    cli.ok("accounts", "add", "ci", "--role", "operator", "--password-stdin", stdin=PASSWORD)

    done = cli("tokens", "create", "--account", "ci", "--expires", "30d", "--name", "nightly")
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert re.fullmatch(r"igt_[A-Za-z0-9_-]{43}", token)
    assert "not shown again" in done.stderr and token not in done.stderr
    scripted = cli.ok("tokens", "create", "--account", "ci", "--expires", "12h", "--json")
    second = json.loads(scripted)["result"]["token"]

    listed = cli.json("tokens", "list")["tokens"]
    assert [(t["name"], t["account"], t["state"], t["last_used_at"]) for t in listed] == [
        ("nightly", "ci", "active", None),
        ("", "ci", "active", None),
    ]
    assert authenticate(cli, token).name == "ci"
    assert cli.json("tokens", "list", "--account", "ci")["tokens"][0]["last_used_at"]

    cli.ok("tokens", "revoke", listed[0]["id"])
    assert with_auth(cli, lambda a: _reason(a.tokens.authenticate, token)) is Reason.REVOKED
    assert authenticate(cli, second).name == "ci"  # the other token still works
    assert "revoked" in cli.ok("tokens", "list")
    assert cli.json("tokens", "list", "--account", "nobody")["tokens"] == []

    # Everything but the two creations' stdout is free of tokens, and of the password.
    printed = [done.stdout, scripted]
    assert_no_secrets(cli, [PASSWORD, token, second], allowed=printed)


@pytest.mark.parametrize(
    ("args", "stdin", "complaint"),
    [
        (["accounts", "add", "carol", "--role", "root", "--password-stdin"], PASSWORD, "'root'"),
        (["accounts", "add", "carol", "--role", "readonly", "--password-stdin"], "short", "8"),
        (["accounts", "add", "carol", "--role", "readonly"], None, "--password-stdin"),
        (
            ["accounts", "add", "bad/name", "--role", "readonly", "--password-stdin"],
            PASSWORD,
            "bad/name",
        ),
        (["accounts", "passwd", "nobody", "--password-stdin"], PASSWORD, "no account 'nobody'"),
        (["accounts", "remove", "nobody"], None, "no account 'nobody'"),
        (["tokens", "create", "--account", "nobody", "--expires", "1d"], None, "'nobody'"),
        (["tokens", "create", "--account", "ci", "--expires", "400d"], None, "at most 365"),
        (["tokens", "create", "--account", "ci", "--expires", "soon"], None, "--expires"),
        (["tokens", "revoke", "abc123"], None, "no token with id 'abc123'"),
    ],
)
def test_bad_input_is_named_and_changes_nothing(
    cli: Cli, args: list[str], stdin: str | None, complaint: str
) -> None:
    with AuthStore.open(cli.state, cli.url) as auth:  # in process: one CLI run per case
        auth.accounts.add("ci", PASSWORD, parse_grants(["readonly"]))

    done = cli(*args, stdin=stdin)

    assert done.returncode == 1
    assert complaint in done.stderr, done.stderr
    with AuthStore.open(cli.state, cli.url) as auth:
        assert [a.name for a in auth.accounts.list()] == ["ci"]
        assert auth.tokens.list() == []
    assert_no_secrets(cli, [PASSWORD])


@pytest.mark.parametrize("records_url", ["sqlite"], indirect=True)
def test_the_password_is_asked_twice_at_a_terminal_and_not_echoed(cli: Cli) -> None:
    code, shown = on_terminal(
        cli, ["accounts", "add", "dee", "--role", "readonly"], [PASSWORD, PASSWORD]
    )
    assert code == 0, shown
    assert "Password for dee:" in shown and "Again" in shown
    assert login(cli, "dee", PASSWORD).name == "dee"

    code, shown = on_terminal(cli, ["accounts", "passwd", "dee"], [NEW_PASSWORD, "typo"])
    assert code == 1
    assert "differ" in shown
    assert login(cli, "dee", PASSWORD).name == "dee"  # unchanged
    for secret in (PASSWORD, NEW_PASSWORD, "typo"):
        assert secret not in shown


# ---------------------------------------------------------------- helpers


def with_auth(cli: Cli, call: Any) -> Any:
    with AuthStore.open(cli.state, cli.url) as auth:
        return call(auth)


def login(cli: Cli, name: str, password: str) -> Any:
    return with_auth(cli, lambda auth: auth.accounts.login(name, password))


def authenticate(cli: Cli, token: str) -> Any:
    return with_auth(cli, lambda auth: auth.tokens.authenticate(token))


def refused(cli: Cli, name: str, password: str) -> Reason:
    return with_auth(cli, lambda auth: _reason(auth.accounts.login, name, password))


def _reason(call: Any, *args: Any) -> Reason:
    with pytest.raises(Refused) as caught:
        call(*args)
    return caught.value.reason


def assert_no_secrets(cli: Cli, secrets: list[str], allowed: Sequence[str] = ()) -> None:
    """No secret in any output but the allowed ones, nor in the database's files or rows."""
    for output in cli.outputs:
        if output in allowed:
            continue
        for secret in secrets:
            assert secret not in output, output
    stored = (
        b"".join(p.read_bytes() for p in cli.state.glob("runs.db*")) if cli.url is None else b""
    )
    with (
        AuthStore.open(cli.state, cli.url) as auth,
        auth.accounts._db.transaction(write=False) as tx,
    ):
        for table in ("auth_accounts", "auth_tokens", "auth_sessions"):
            for row in tx.execute(f"SELECT * FROM {table}").fetchall():
                stored += repr(list(dict(row).values())).encode()
    for secret in secrets:
        assert secret.encode() not in stored
        assert secret.removeprefix("igt_").encode() not in stored


def on_terminal(cli: Cli, args: list[str], answers: list[str]) -> tuple[int, str]:
    """args run on a pseudo-terminal that is its controlling terminal (getpass asks
    there); answers typed at each prompt; (exit code, what the terminal showed)."""
    argv = [sys.executable, "-m", "infra_gitops.cli", *args, "--state-dir", str(cli.state)]
    pid, fd = pty.fork()
    if pid == 0:  # the child: exec at once
        os.execve(sys.executable, argv, _CLEAN)
    shown = b""
    try:
        for answer in answers:
            shown += _read_until(fd, b": ")
            os.write(fd, answer.encode() + b"\n")
        shown += _read_until(fd, None)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), shown.decode(errors="replace")


def _read_until(fd: int, marker: bytes | None, timeout: float = 30.0) -> bytes:
    got = b""
    while marker is None or marker not in got:
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            raise AssertionError(f"no {marker!r} on the terminal; it showed {got!r}")
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the program ended
            break
        if not chunk:
            break
        got += chunk
    return got
