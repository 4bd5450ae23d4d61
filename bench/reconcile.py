"""The reconcile pass over N generated stacks, and what a user would run instead, in the
same run on the same sandbox: the daemon's pass (bench/daemon_side.py), the serial and
the `xargs -P` shell loops and the engine-only floor (bench/baselines.py). Then the
resident memory of a daemon with many declared stacks (bench/rss.py)."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import baselines, daemon_side
from bench.generate import write_repo
from bench.rss import peak_rss_mb
from infra_gitops import sandbox
from infra_gitops.sandbox import emulator


@dataclass(frozen=True)
class PassResult:
    stacks: int
    daemon_s: float
    idle_ms: float
    serial_s: float | None
    parallel_s: float | None
    floor_s: float
    failed: tuple[str, ...] = ()
    """Shell loops that failed (their error is on stderr): a user's loop has no retry,
    and Terraform starting the provider itself under load fails now and then."""


def measure_pass(
    root: Path, info: sandbox.SandboxInfo, n: int, *, parallelism: int, serial: bool = True
) -> PassResult:
    """Every variant plans the same n new stacks (nothing is applied, so each starts
    from the same cloud); the serial loop is optional (the slowest by far)."""
    fresh_cloud(info)
    repo = root / f"repo-{n}"
    repo.mkdir()
    names = write_repo(repo, n)
    state_dir = root / f"state-{n}"
    link_sandbox(info, state_dir)
    say(f"N={n}: daemon pass ...")
    daemon_s, idle_ms = daemon_side.reconcile_pass(repo, state_dir, parallelism)
    say(f"N={n}: daemon pass {daemon_s:.1f} s; engine-only floor ...")
    floor_s = _in_work_dir(
        root / f"floor-{n}",
        lambda work: baselines.engine_floor(repo, names, info, work, parallelism),
    )
    say(f"N={n}: floor {floor_s:.1f} s; parallel shell loop ...")
    failed = []
    parallel_s = _loop(
        root / f"xargs-{n}",
        lambda work: baselines.parallel_loop(repo, names, info, work, parallelism),
    )
    if parallel_s is None:
        failed.append("xargs")
    serial_s = None
    if serial:
        say(f"N={n}: xargs loop {_secs(parallel_s)}; serial shell loop ...")
        serial_s = _loop(
            root / f"serial-{n}", lambda work: baselines.serial_loop(repo, names, info, work)
        )
        if serial_s is None:
            failed.append("serial")
    return PassResult(n, daemon_s, idle_ms, serial_s, parallel_s, floor_s, tuple(failed))


def measure_rss(root: Path, info: sandbox.SandboxInfo, n: int, seconds: float) -> float:
    """Peak RSS (MiB) of the `infra-gitops daemon` process (not its Terraform children)
    over its first `seconds` of serving, while its first pass works through n new stacks."""
    fresh_cloud(info)
    repo = root / f"rss-repo-{n}"
    repo.mkdir()
    write_repo(repo, n)
    state_dir = root / f"rss-state-{n}"
    link_sandbox(info, state_dir)
    argv, health_url, _ = daemon_side.daemon_command(repo, state_dir)
    say(f"RSS with {n} stacks for {seconds:g} s ...")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    return peak_rss_mb(argv, health_url, env=env, log_file=root / f"rss-{n}.log", settle_s=seconds)


def fresh_cloud(info: sandbox.SandboxInfo) -> None:
    emulator.reset(info.endpoint)
    sandbox.ensure_bucket(info.endpoint, info.state_bucket, info.region)


def link_sandbox(info: sandbox.SandboxInfo, state_dir: Path) -> None:
    """Point state_dir at the running sandbox, as `sandbox up` on it would (same
    emulator, same provider mirror), without a second emulator."""
    state_dir.mkdir(parents=True)
    sandbox.sandbox_dir(state_dir).symlink_to(sandbox.sandbox_dir(info.state_dir))


def _loop(work: Path, measure: Callable[[Path], float]) -> float | None:
    """Seconds of a shell loop, or None when it failed (said on stderr)."""
    try:
        return _in_work_dir(work, measure)
    except RuntimeError as exc:
        say(f"{work.name}: FAILED: {exc}")
        return None


def _secs(seconds: float | None) -> str:
    return f"{seconds:.1f} s" if seconds is not None else "failed"


def _in_work_dir(work: Path, measure: Callable[[Path], float]) -> float:
    work.mkdir()
    try:
        return measure(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
