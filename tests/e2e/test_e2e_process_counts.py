"""How many engine processes each operation starts, so that they cannot creep back.

The example stacks (storage, and app reading storage's queue_url) on the sandbox, run
by the real CLI, with `binary:` pointing at a launcher that notes each Terraform
command (its stack and subcommand) in a file before running the embedded Terraform.
"""

from __future__ import annotations

import shlex
import sys
from collections import Counter
from pathlib import Path

import pytest
from e2e_helpers import Env, bucket_name, tags

pytestmark = pytest.mark.e2e

Counts = Counter[tuple[str, str]]


def counting_launcher(directory: Path, journal: Path) -> Path:
    """A `terraform` that appends "<stack> <subcommand>" to journal, then runs the
    embedded Terraform. The stack is read from TF_DATA_DIR (work/<repo>/<stack>/<ws>)."""
    launcher = directory / "terraform"
    launcher.write_text(
        "#!/bin/sh\n"
        'work="$(dirname "$(dirname "$TF_DATA_DIR")")"\n'
        f'echo "$(basename "$work") $1" >> {shlex.quote(str(journal))}\n'
        f"exec {shlex.quote(sys.executable)} -m infra_gitops.engines.embedded_terraform "
        '"$@"\n'
    )
    launcher.chmod(0o755)
    return launcher


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path

    def take(self) -> Counts:
        """The commands run since the last take."""
        lines = self.path.read_text().splitlines() if self.path.exists() else []
        self.path.unlink(missing_ok=True)
        return Counter(tuple(line.split(" ", 1)) for line in lines)  # type: ignore[misc]


def expect(**by_stack: str) -> Counts:
    """expect(storage="plan show") -> {("storage", "plan"): 1, ("storage", "show"): 1}."""
    return Counter((stack, cmd) for stack, cmds in by_stack.items() for cmd in cmds.split())


@pytest.fixture
def counted(e2e: Env, tmp_path: Path) -> tuple[Env, Journal]:
    journal = Journal(tmp_path / "commands.txt")
    launcher = counting_launcher(tmp_path, journal.path)
    manifest = e2e.repo / "gitops.yaml"
    text = manifest.read_text()
    for path in ("stacks/storage", "stacks/app"):
        line = f"    path: {path}\n"
        assert line in text
        text = text.replace(line, f"{line}    binary: {launcher}\n")
    manifest.write_text(text)
    e2e.commit("Run the stacks with the counting launcher")
    return e2e, journal


def test_engine_processes_per_operation(counted: tuple[Env, Journal]) -> None:
    e2e, journal = counted

    # Nothing applied yet: app waits on storage's outputs, which storage's own plan
    # says do not exist yet (no `output` run for that).
    first = e2e.cli("plan")
    assert first.code == 2, first.output
    assert journal.take() == expect(storage="init plan show")

    # storage's queue URL is unknown until applied: read once, because app reads it.
    applied = e2e.cli("apply", "--auto-approve")
    assert applied.code == 0, applied.output
    assert journal.take() == expect(storage="plan show apply output", app="init plan show apply")

    # Initialised work dirs: no init; app takes storage's outputs from storage's plan.
    planned = e2e.cli("plan")
    assert planned.code == 0, planned.output
    assert journal.take() == expect(storage="plan show", app="plan show")

    clean = e2e.cli("drift")
    assert clean.code == 0, clean.output
    assert journal.take() == expect(storage="plan show", app="plan show")

    # Nothing to apply: each stack plans; app takes storage's outputs from its plan.
    unchanged = e2e.cli("apply", "--auto-approve")
    assert unchanged.code == 0, unchanged.output
    assert journal.take() == expect(storage="plan show", app="plan show")

    # A plan of app alone reads storage's outputs from its engine, without an init.
    alone = e2e.cli("plan", "--stack", "app")
    assert alone.code == 0, alone.output
    assert journal.take() == expect(storage="output", app="plan show")

    bucket = bucket_name(e2e)
    e2e.aws("s3").put_bucket_tagging(
        Bucket=bucket, Tagging={"TagSet": [{"Key": "environment", "Value": "by-hand"}]}
    )
    healed = e2e.cli("drift", "--heal")
    assert healed.code == 2, healed.output
    assert tags(e2e, bucket)["environment"] == "dev"
    # The check and the heal share one prepared work dir: no init at all.
    assert journal.take() == expect(storage="plan show plan show apply", app="plan show")

    # A changed provider requirement must init again (and only that stack).
    main_tf = e2e.repo / "stacks" / "storage" / "main.tf"
    loosened = main_tf.read_text().replace('"5.100.0"', '"~> 5.100.0"')
    assert loosened != main_tf.read_text()
    main_tf.write_text(loosened)
    e2e.commit("Loosen storage's aws provider requirement")
    replanned = e2e.cli("plan")
    assert replanned.code == 0, replanned.output
    assert journal.take() == expect(storage="init plan show", app="plan show")
