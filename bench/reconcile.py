"""Benchmark: the daemon's reconcile pass against the loop a user would otherwise write.

    python -m bench.reconcile --sizes 10,50          # ~5 min on 2 cores
    python -m bench.reconcile --quick                # N=10 only, RSS at 200 stacks

For each N: N generated Terraform stacks (one SQS queue or SSM parameter each) on the
offline local cloud (moto server + the Python provider), planned once by the daemon's
pass (bench/daemon_side.py) and once by the naive loop (bench/naive.py), in the same
run; then the idle pass (no new commit, no drift check due); then the resident memory
of a daemon with 200 and 1,000 declared stacks. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench import daemon_side
from bench.generate import write_repo
from bench.naive import naive_loop
from bench.rss import peak_rss_mb
from infra_gitops import sandbox
from infra_gitops.sandbox import emulator


@dataclass(frozen=True)
class PassResult:
    stacks: int
    daemon_s: float
    naive_s: float | None
    idle_ms: float | None


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    sizes = [10] if args.quick else _ints(args.sizes)
    rss_sizes = [200] if args.quick else _ints(args.rss_sizes)
    with tempfile.TemporaryDirectory(prefix="infra-gitops-bench-") as tmp:
        root = Path(tmp)
        cloud_dir = root / "cloud"
        info = sandbox.up(cloud_dir)
        try:
            passes = [
                _measure_pass(root, info, n, naive=not args.no_naive, parallelism=args.parallelism)
                for n in sizes
            ]
            memory = {n: _measure_rss(root, info, n, args.rss_seconds) for n in rss_sizes}
        finally:
            sandbox.down(cloud_dir)
    print(_report(passes, memory))
    return 0


def _measure_pass(
    root: Path, info: sandbox.SandboxInfo, n: int, *, naive: bool, parallelism: int
) -> PassResult:
    emulator.reset(info.endpoint)
    sandbox.ensure_bucket(info.endpoint, info.state_bucket, info.region)
    repo = root / f"repo-{n}"
    repo.mkdir()
    names = write_repo(repo, n)
    state_dir = root / f"state-{n}"
    _link_sandbox(info, state_dir)
    _say(f"N={n}: daemon pass ...")
    daemon_s, idle_ms = daemon_side.reconcile_pass(repo, state_dir, parallelism)
    naive_s = None
    if naive:
        _say(f"N={n}: daemon pass {daemon_s:.1f} s; naive loop ...")
        work = root / f"naive-{n}"
        work.mkdir()
        naive_s = naive_loop(repo, names, info, work)
        shutil.rmtree(work, ignore_errors=True)
    _say(f"N={n}: done")
    return PassResult(n, daemon_s, naive_s, idle_ms)


def _link_sandbox(info: sandbox.SandboxInfo, state_dir: Path) -> None:
    """Point state_dir at the running sandbox, as `sandbox up` on it would (same
    emulator, same provider mirror), without a second emulator."""
    state_dir.mkdir(parents=True)
    sandbox.sandbox_dir(state_dir).symlink_to(sandbox.sandbox_dir(info.state_dir))


def _measure_rss(
    root: Path, info: sandbox.SandboxInfo, n: int, seconds: float
) -> tuple[float, str]:
    """Peak RSS of the daemon process (not its Terraform children) over its first
    `seconds` of serving, while its first pass works through the n new stacks."""
    emulator.reset(info.endpoint)
    sandbox.ensure_bucket(info.endpoint, info.state_bucket, info.region)
    repo = root / f"rss-repo-{n}"
    repo.mkdir()
    write_repo(repo, n)
    state_dir = root / f"rss-state-{n}"
    _link_sandbox(info, state_dir)
    argv, health_url, what = daemon_side.daemon_command(repo, state_dir)
    _say(f"RSS with {n} stacks: {what} for {seconds:g} s ...")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    log_file = root / f"rss-{n}.log"
    mb = peak_rss_mb(argv, health_url, env=env, log_file=log_file, settle_s=seconds)
    return mb, what


def _report(passes: list[PassResult], memory: dict[int, tuple[float, str]]) -> str:
    lines = [
        f"Machine: {os.cpu_count()} CPUs, {platform.python_implementation()} "
        f"{platform.python_version()}, {platform.system()} {platform.release()}",
        "",
        "| stacks | daemon pass | naive loop | ratio | idle pass |",
        "|---:|---:|---:|---:|---:|",
    ]
    for p in passes:
        naive = f"{p.naive_s:.1f} s" if p.naive_s is not None else "-"
        ratio = f"{p.naive_s / p.daemon_s:.1f}x" if p.naive_s is not None else "-"
        idle = f"{p.idle_ms:.1f} ms" if p.idle_ms is not None else "n/a"
        lines.append(f"| {p.stacks} | {p.daemon_s:.1f} s | {naive} | {ratio} | {idle} |")
    if memory:
        lines += ["", "| declared stacks | peak RSS | process |", "|---:|---:|---|"]
        lines += [f"| {n} | {mb:.0f} MiB | {what} |" for n, (mb, what) in memory.items()]
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.reconcile",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--sizes", default="10,50,200", help="stack counts (default 10,50,200)")
    parser.add_argument("--rss-sizes", default="200,1000", help="declared stacks for RSS")
    parser.add_argument(
        "--rss-seconds", type=float, default=20.0, help="how long RSS is sampled (default 20)"
    )
    parser.add_argument("--quick", action="store_true", help="N=10 and RSS at 200 only")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive loop")
    parser.add_argument(
        "--parallelism", type=int, default=2, help="the daemon's --parallelism (default 2)"
    )
    return parser


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
