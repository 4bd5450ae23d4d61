"""Resident memory of a daemon process: start it, wait until it serves /healthz, sample
VmRSS from /proc for a few seconds, stop it (SIGTERM, then SIGKILL)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path


def peak_rss_mb(
    argv: Sequence[str],
    health_url: str,
    *,
    env: dict[str, str],
    log_file: Path,
    settle_s: float = 5.0,
    start_timeout_s: float = 120.0,
) -> float:
    """Peak VmRSS (MiB) of the process over settle_s once it is serving."""
    with log_file.open("wb") as log:
        proc = subprocess.Popen(
            list(argv), env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_serving(proc, health_url, start_timeout_s, log_file)
        peak = 0.0
        deadline = time.monotonic() + settle_s
        while time.monotonic() < deadline:
            peak = max(peak, _rss_mb(proc.pid))
            time.sleep(0.1)
        return peak
    finally:
        _stop(proc)


def _wait_serving(proc: subprocess.Popen[bytes], url: str, timeout: float, log_file: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"daemon exited {proc.returncode}: {log_file.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"daemon not serving {url} after {timeout} s")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
