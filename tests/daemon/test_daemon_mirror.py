"""The daemon's mirror (fetch, retries, backoff, staleness) and its git notes, on real
local repos."""

from __future__ import annotations

import json
import subprocess
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
