"""ruff (lint and format) and mypy as part of the test suite, so `.ci/run` (the README's
test command) runs them. Each runs as a subprocess of the venv's interpreter, with the
project's own configuration in pyproject.toml."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
# What mypy checks: the package and the benchmarks (tests and example stacks are linted
# by ruff only).
TYPED = ["infra_gitops", "bench"]


def _run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_ruff_check_passes() -> None:
    result = _run("ruff", "check", "--no-cache", ".")

    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_check_passes() -> None:
    result = _run("ruff", "format", "--check", "--no-cache", ".")

    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_passes() -> None:
    result = _run("mypy", *TYPED)

    assert result.returncode == 0, result.stdout + result.stderr


def test_the_same_commands_fail_on_a_file_with_defects(tmp_path: Path) -> None:
    # The checks above can fail: the same commands and settings reject a bad file.
    bad = tmp_path / "bad.py"
    bad.write_text("import os\ndef f(x):\n  return x\n")
    config = str(PYPROJECT)

    check = _run("ruff", "check", "--no-cache", "--config", config, str(bad), cwd=tmp_path)
    form = _run("ruff", "format", "--check", "--no-cache", "--config", config, str(bad))
    types = _run("mypy", "--no-incremental", "--config-file", config, str(bad), cwd=tmp_path)

    assert check.returncode == 1 and "F401" in check.stdout  # unused import
    assert form.returncode == 1  # two-space indent
    assert types.returncode == 1 and "no-untyped-def" in types.stdout


def test_the_pre_commit_hooks_run_the_venvs_tools_on_the_same_targets() -> None:
    # The hooks are `language: system`: each entry must be a tool the test extra installs
    # next to this interpreter, and mypy must check what CI checks.
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}

    assert set(hooks) == {"ruff", "ruff-format", "mypy", "hadolint"}
    for hook in hooks.values():
        assert hook["language"] == "system"
        tool = hook["entry"].split()[0]
        assert (Path(sys.executable).parent / tool).exists(), tool
    assert hooks["mypy"]["entry"].split()[1:] == TYPED
    assert hooks["mypy"]["pass_filenames"] is False
