"""The daemon's side of the benchmark, through the core's public entry points:
`Daemon(Settings(...))` (infra_gitops/daemon/app.py) and its `poll()`, the job the
scheduler runs every poll interval: fetch, and reconcile when the branch moved.

The pass runs in this process, on a state dir linked to the benchmark's sandbox (so
the session starts one reattached provider process per pass, as the daemon does).
"""

from __future__ import annotations

import socket
import statistics
import sys
import time
from pathlib import Path

from infra_gitops.daemon.app import Daemon
from infra_gitops.daemon.runtime import Settings
from infra_gitops.models import RunStatus
from infra_gitops.runs import RunStore

IDLE_SAMPLES = 20


def reconcile_pass(repo: Path, state_dir: Path, parallelism: int) -> tuple[float, float]:
    """(seconds of the first pass over a repo whose stacks are all new, median ms of an
    idle pass right after it). Raises if a stack failed."""
    settings = Settings(
        state_dir=state_dir, repo=str(repo), poll_interval=3600.0, parallelism=parallelism
    )
    with Daemon(settings) as daemon:  # clones the mirror: daemon start-up, not the pass
        started = time.monotonic()
        daemon.poll()
        pass_s = time.monotonic() - started
        idle = []
        for _ in range(IDLE_SAMPLES):
            started = time.monotonic()
            daemon.poll()
            idle.append((time.monotonic() - started) * 1000)
    _check_runs(state_dir)
    return pass_s, statistics.median(idle)


def _check_runs(state_dir: Path) -> None:
    with RunStore.open(state_dir) as store:
        runs = store.list(limit=100_000)
    failed = [r for r in runs if r.status is RunStatus.FAILED]
    if failed or not runs:
        first = f"{failed[0].stack}: {failed[0].error}" if failed else "no run recorded"
        raise RuntimeError(f"the daemon pass failed ({len(failed)} stacks), first: {first}")


def daemon_command(repo: Path, state_dir: Path) -> tuple[list[str], str, str]:
    """(argv, health URL, description) of the daemon process whose memory is measured."""
    port = _free_port()
    argv = [
        sys.executable,
        "-m",
        "infra_gitops.cli",
        "daemon",
        "--repo",
        str(repo),
        "--state-dir",
        str(state_dir),
        "--listen",
        f"127.0.0.1:{port}",
        "--poll-interval",
        "3600",
        "--drift-interval",
        "86400",
        "--log-format",
        "json",
    ]
    return argv, f"http://127.0.0.1:{port}/healthz", "`infra-gitops daemon`"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
