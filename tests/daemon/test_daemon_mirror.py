"""The daemon's mirror (fetch, retries, backoff, staleness) and its git notes, on real
local repos."""

from __future__ import annotations

import base64
import functools
import http.server
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra_gitops.daemon.mirror import Mirror, display_url
from infra_gitops.daemon.notes import GitNotes, note_line
from infra_gitops.models import Commit, Run, RunKind, RunStatus


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def remote(tmp_path: Path) -> tuple[Path, Path]:
    bare = tmp_path / "remote.git"
    _git(tmp_path, "init", "-q", "--bare", "--initial-branch=main", str(bare))
    work = tmp_path / "work"
    _git(tmp_path, "init", "-q", "--initial-branch=main", str(work))
    (work / "f").write_text("1\n")
    _git(work, "add", "f")
    _git(work, "-c", "user.name=A", "-c", "user.email=a@x", "commit", "-q", "-m", "one")
    _git(work, "push", "-q", str(bare), "main")
    return bare, work


def test_fetch_mirrors_the_branch_and_never_touches_the_users_checkout(
    tmp_path: Path, remote: tuple[Path, Path]
) -> None:
    bare, work = remote
    mirror = Mirror(tmp_path / "state", str(bare), "main")
    head = mirror.fetch(poll_interval=1)
    assert head == _git(work, "rev-parse", "HEAD")
    assert (tmp_path / "state" / "daemon" / "repo.git" / "HEAD").exists()
    assert mirror.state.last_ok and mirror.state.last_success is not None
    assert _git(work, "status", "--porcelain") == ""


def test_a_dead_remote_is_retried_with_backoff_and_the_last_good_head_kept(
    tmp_path: Path, remote: tuple[Path, Path]
) -> None:
    bare, _ = remote
    sleeps: list[float] = []
    mirror = Mirror(tmp_path / "state", str(bare), "main", sleep=sleeps.append)
    good = mirror.fetch(poll_interval=10)
    bare.rename(tmp_path / "gone.git")
    assert mirror.fetch(poll_interval=10) is None
    assert sleeps == [0.5, 1.0]  # three attempts, exponential
    state = mirror.state
    assert (state.last_ok, state.consecutive_failures, state.head) == (False, 1, good)
    assert "cannot fetch branch main from" in (state.last_error or "")
    # Within the backoff nothing is tried; a forced fetch (webhook) tries anyway.
    assert mirror.fetch(poll_interval=10) is None and len(sleeps) == 2
    (tmp_path / "gone.git").rename(bare)
    assert mirror.fetch(poll_interval=10, force=True) == good


def test_urls_are_shown_without_credentials() -> None:
    assert display_url("https://bot:s3cret@git.example/infra.git") == (
        "https://***@git.example/infra.git"
    )
    assert display_url("/srv/infra.git") == "/srv/infra.git"


def test_notes_are_appended_one_line_per_run_and_pushed(
    tmp_path: Path, remote: tuple[Path, Path]
) -> None:
    bare, work = remote
    mirror = Mirror(tmp_path / "state", str(bare), "main")
    sha = mirror.fetch(poll_interval=1)
    assert sha is not None
    notes = GitNotes(mirror.path, push=True)
    commit = Commit(sha, "A", "a@x", "2026-01-01T00:00:00+00:00", "one")
    for kind, status in ((RunKind.APPLY, RunStatus.APPLIED), (RunKind.DRIFT, RunStatus.DRIFTED)):
        run = Run("r-" + kind, "storage", kind, "daemon:commit", status, commit, "t0", "t1")
        assert notes.append(sha, note_line(run))
    lines = [json.loads(x) for x in notes.read(sha)]
    assert [(x["kind"], x["status"]) for x in lines] == [
        ("apply", "applied"),
        ("drift", "drifted"),
    ]
    log = _git(bare, "log", "--notes=infra-gitops", "-1", "main")
    assert '"kind": "apply"' in log and '"kind": "drift"' in log


# ---------------------------------------------------------------- credentials

TOKEN = "ghp_FAKE0token0for0tests0only0123"


class _AuthedGitFiles(http.server.SimpleHTTPRequestHandler):
    """Git's "dumb" HTTP protocol is static files: served only with the right token."""

    expected = "Basic " + base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()

    def do_GET(self) -> None:
        if self.headers.get("Authorization") != self.expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="infra"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_remote(tmp_path: Path, remote: tuple[Path, Path]) -> Iterator[tuple[str, str]]:
    """(URL of the bare remote over HTTP needing TOKEN, its branch tip)."""
    bare, work = remote
    _git(bare, "update-server-info")  # what a dumb HTTP client reads
    handler = functools.partial(_AuthedGitFiles, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield (
            f"http://127.0.0.1:{server.server_address[1]}/{bare.name}",
            _git(work, "rev-parse", "HEAD"),
        )
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def git_argv_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every git command line the code under test runs, one per line (a `git` shim)."""
    shims = tmp_path / "shims"
    shims.mkdir()
    log = tmp_path / "git-argv.log"
    real = shutil.which("git")
    (shims / "git").write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{real}" "$@"\n')
    (shims / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{shims}{os.pathsep}{os.environ['PATH']}")
    return log


def test_a_token_in_the_url_reaches_git_but_never_its_config_nor_a_command_line(
    tmp_path: Path, http_remote: tuple[str, str], git_argv_log: Path
) -> None:
    url, tip = http_remote
    with_token = url.replace("http://", f"http://x-access-token:{TOKEN}@")
    state = tmp_path / "state"
    mirror = Mirror(state, with_token, "main")

    assert mirror.fetch(poll_interval=1) == tip, mirror.state.last_error

    assert TOKEN not in (mirror.path / "config").read_text()
    assert git_argv_log.read_text().count("fetch") >= 1  # the shim saw the commands
    assert TOKEN not in git_argv_log.read_text()
    assert TOKEN not in display_url(mirror.url)
    assert not any(TOKEN in p.read_text(errors="ignore") for p in state.rglob("*") if p.is_file())


def test_the_token_may_come_from_a_file_and_a_wrong_one_is_never_shown(
    tmp_path: Path, http_remote: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, tip = http_remote
    monkeypatch.delenv("INFRA_GITOPS_GIT_TOKEN", raising=False)
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    assert Mirror(tmp_path / "a", url, "main", token_file=token_file).fetch(poll_interval=1) == tip

    wrong = "ghp_WRONG0token0000000000000000"
    token_file.write_text(wrong)
    failing = Mirror(tmp_path / "b", url, "main", token_file=token_file, sleep=lambda _: None)
    assert failing.fetch(poll_interval=1) is None
    error = failing.state.last_error or ""
    assert "cannot fetch branch main" in error
    assert wrong not in error

    # No token at all: git fails at once instead of waiting for someone to type one.
    bare = Mirror(tmp_path / "c", url, "main", sleep=lambda _: None)
    assert bare.fetch(poll_interval=1) is None


def test_a_token_stored_by_an_older_version_is_removed_from_the_mirror(
    tmp_path: Path, http_remote: tuple[str, str]
) -> None:
    url, tip = http_remote
    with_token = url.replace("http://", f"http://x-access-token:{TOKEN}@")
    state = tmp_path / "state"
    mirror = Mirror(state, with_token, "main")
    with mirror.open() as repo, repo.config_writer() as cfg:
        cfg.set_value('remote "origin"', "url", with_token)  # as older versions wrote it

    assert Mirror(state, with_token, "main").fetch(poll_interval=1) == tip
    assert TOKEN not in (mirror.path / "config").read_text()
