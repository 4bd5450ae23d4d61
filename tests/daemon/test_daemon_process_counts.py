"""Across daemon passes, a stack's work dir is not initialised again and a dependency's
outputs are not read again from its engine until that dependency is applied again.

The stacks run through a launcher (`binary:`) that notes each Terraform command.
"""

from __future__ import annotations

import shlex
import sys
from collections import Counter
from pathlib import Path

import pytest
from daemon_helpers import World, wait_for

pytestmark = pytest.mark.e2e


def counting_launcher(directory: Path, journal: Path) -> Path:
    """Like tests/e2e/test_e2e_process_counts.py's: "<stack> <subcommand>" per command."""
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


def taken(journal: Path) -> Counter[str]:
    lines = journal.read_text().splitlines() if journal.exists() else []
    journal.unlink(missing_ok=True)
    return Counter(lines)


def test_the_next_pass_reuses_init_and_the_outputs_of_the_last_one(
    world: World, tmp_path: Path
) -> None:
    journal = tmp_path / "commands.txt"
    launcher = counting_launcher(tmp_path, journal)
    for path in ("stacks/storage", "stacks/app"):
        world.edit(
            "gitops.yaml", f"    path: {path}\n", f"    path: {path}\n    binary: {launcher}\n"
        )
    first = world.commit_and_push("Declare storage and app")
    world.start_daemon()
    wait_for("both stacks applied", lambda: world.synced_at(first, "storage", "app"))
    assert taken(journal)["app init"] == 1

    world.edit(
        "stacks/app/main.tf", 'stack       = "app"', 'stack       = "app"\n    team        = "web"'
    )
    second = world.commit_and_push("Tag the app's parameters")
    wait_for("app applied at the second commit", lambda: world.synced_at(second, "app"))
    # app's work dir was initialised by the last pass for the same requirements, and
    # storage's outputs are the ones the last pass read: no init, nothing of storage.
    assert taken(journal) == Counter(["app plan", "app show", "app apply"])
