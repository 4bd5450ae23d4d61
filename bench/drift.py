"""Drift checks through the daemon's public entry points: `Daemon(Settings(...))`, one
`poll()` that applies every declared stack, then `check_drift(name)` as the scheduler's
drift job calls it (no scheduler runs: the benchmark decides what is checked when).

With D declared stacks, a handful are real sandbox stacks; the others run a stand-in
engine that does nothing (bench/generate.py, `binary:` in the manifest), so a pass over
1,000 stacks takes seconds. Two figures per D:

- the cost of one drift check outside Terraform: the median wall time of check_drift on
  a stand-in stack, minus the time its stand-in engine calls took (counted from the
  stand-in's log, each priced at the median of the same script run directly);
- the throughput of drift checks of the real stacks: rounds of checks of every real
  stack, `parallelism` at a time (the daemon's drift jobs run on parallelism + 1
  scheduler threads, one of which the poll job uses), as checks per hour.

Every check is verified by its run record (one new drift run per check, none failed).
"""

from __future__ import annotations

import statistics
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from infra_gitops.daemon.app import Daemon
from infra_gitops.daemon.runtime import Settings
from infra_gitops.models import RunKind, RunStatus
from infra_gitops.runs import RunStore

REAL_STACKS = 4


@dataclass(frozen=True)
class DriftResult:
    declared: int
    pass_s: float
    """The first pass (applies every stack), for orientation only."""
    overhead_ms: float
    check_ms: float
    """Median wall time of one check of a stand-in stack (overhead + stand-in calls)."""
    engine_calls_per_check: float
    checks: int
    checks_per_hour: float


def measure(
    repo: Path,
    state_dir: Path,
    *,
    declared: int,
    real_names: list[str],
    filler_names: list[str],
    noop_engine: Path,
    noop_calls_log: Path,
    rounds: int,
    parallelism: int,
) -> DriftResult:
    settings = Settings(
        state_dir=state_dir, repo=str(repo), poll_interval=3600.0, parallelism=parallelism
    )
    with Daemon(settings) as daemon:
        started = time.monotonic()
        daemon.poll()
        pass_s = time.monotonic() - started
        _check_runs(state_dir, RunKind.APPLY, expected=declared)
        check_s, calls = _stand_in_checks(daemon, filler_names, noop_calls_log)
        checks, elapsed = _real_checks(daemon, real_names, rounds, parallelism)
    _check_runs(state_dir, RunKind.DRIFT, expected=len(filler_names) + checks)
    call_s = _stand_in_call_s(noop_engine, noop_calls_log)
    calls_per_check = calls / len(filler_names)
    return DriftResult(
        declared=declared,
        pass_s=pass_s,
        overhead_ms=(check_s - calls_per_check * call_s) * 1000,
        check_ms=check_s * 1000,
        engine_calls_per_check=calls_per_check,
        checks=checks,
        checks_per_hour=checks / elapsed * 3600,
    )


def _stand_in_checks(daemon: Daemon, names: list[str], calls_log: Path) -> tuple[float, int]:
    """(median seconds of one check, stand-in engine calls they made in all)."""
    before = _lines(calls_log)
    times = []
    for name in names:
        started = time.monotonic()
        daemon.check_drift(name)
        times.append(time.monotonic() - started)
    return statistics.median(times), _lines(calls_log) - before


def _real_checks(
    daemon: Daemon, names: list[str], rounds: int, parallelism: int
) -> tuple[int, float]:
    """(checks made, seconds): each round checks every real stack once, `parallelism`
    at a time; a stack is never checked twice at once (the daemon would skip it)."""
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=parallelism) as pool:
        for _ in range(rounds):
            list(pool.map(daemon.check_drift, names))
    return rounds * len(names), time.monotonic() - started


def _stand_in_call_s(noop_engine: Path, calls_log: Path, samples: int = 20) -> float:
    times = []
    for _ in range(samples):
        started = time.monotonic()
        subprocess.run([str(noop_engine), "version"], check=True, capture_output=True)
        times.append(time.monotonic() - started)
    calls_log.unlink(missing_ok=True)
    return statistics.median(times)


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def _check_runs(state_dir: Path, kind: RunKind, *, expected: int) -> None:
    with RunStore.open(state_dir) as store:
        runs = store.list(kind=kind, limit=None)
    failed = [r for r in runs if r.status is RunStatus.FAILED]
    if failed or len(runs) != expected:
        first = f"; first failure: {failed[0].stack}: {failed[0].error}" if failed else ""
        raise RuntimeError(
            f"expected {expected} {kind} runs, none failed: found {len(runs)}, "
            f"{len(failed)} failed{first}"
        )
