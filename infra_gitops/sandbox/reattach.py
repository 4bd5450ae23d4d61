"""Serve the sandbox provider once, for many Terraform commands (TF_REATTACH_PROVIDERS).

Terraform otherwise starts the Python provider about three times per command (0.3-0.7 s
each). In debug ("dev") mode the provider is started once by us and every Terraform
command attaches to it. The provider then lives in OUR environment: it reads
AWS_ENDPOINT_URL and credentials from the env given here, not from each command's env.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO

from infra_gitops.errors import SandboxError
from infra_gitops.process import child_env, output_file

_MARKER = "TF_REATTACH_PROVIDERS="
_START_TIMEOUT = 30.0


def provider_dev_argv() -> list[str]:
    # -u: the reattach line is printed without a flush; unbuffered, it arrives at once.
    return [sys.executable, "-u", "-m", "infra_gitops.sandbox.provider_main", "--dev"]


@contextlib.contextmanager
def reattached_provider(env: Mapping[str, str], log_file: Path | None = None) -> Iterator[str]:
    """Start the provider in dev mode; yield the TF_REATTACH_PROVIDERS value (JSON).

    Set it in the environment of every Terraform command (init included) that should use
    this provider process. The provider's process group is killed when the block ends.
    """
    with output_file(log_file) as stderr:
        proc = subprocess.Popen(
            provider_dev_argv(),
            env=child_env(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            start_new_session=True,
        )
    drain: threading.Thread | None = None
    try:
        value = _read_reattach_value(proc)
        drain = _drain(proc)
        yield value
    finally:
        _kill_group(proc)
        if drain is not None:
            drain.join(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()


def _read_reattach_value(proc: subprocess.Popen[str]) -> str:
    # Raw reads from the pipe's fd: a buffered readline() could swallow the marker line
    # into Python's buffer, where select() no longer sees it.
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    seen = b""
    deadline = time.monotonic() + _START_TIMEOUT
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(timeout=0.1):
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break  # the provider exited
            seen += chunk
            value = _reattach_value(seen.decode(errors="replace"))
            if value is not None:
                return value
    raise SandboxError(
        "the sandbox provider did not start in debug mode "
        f"(exit code {proc.poll()}); run `{' '.join(provider_dev_argv())}` to see why"
    )


def _reattach_value(output: str) -> str | None:
    for line in output.splitlines(keepends=True):
        if _MARKER in line and line.endswith("\n"):
            value = line.split(_MARKER, 1)[1].strip().strip("'")
            json.loads(value)  # fail here, not in Terraform, if the format changes
            return value
    return None


def _drain(proc: subprocess.Popen[str]) -> threading.Thread:
    # Keep reading so a chatty provider can never block on a full pipe.
    def read_all(stream: IO[str] | None) -> None:
        for _ in stream or ():
            pass

    thread = threading.Thread(target=read_all, args=(proc.stdout,), daemon=True)
    thread.start()
    return thread


def _kill_group(proc: subprocess.Popen[str]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=5)
            break
        except subprocess.TimeoutExpired:
            continue
    proc.wait()
