"""Helper processes for the coordination tests: a Python script run with the test's
PYTHONPATH, which says "ready" (and what it holds) on its first line of output."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap


class Helpers:
    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[str]] = []

    def start(
        self, script: str, *args: str, ready: bool = True
    ) -> tuple[subprocess.Popen[str], str]:
        """Run script (dedented) with args; with ready, wait for its first line and
        return it."""
        proc = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(script), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.procs.append(proc)
        if not ready:
            return proc, ""
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line:
            proc.wait(timeout=30)
            raise AssertionError(f"helper failed: {proc.stderr.read() if proc.stderr else ''}")
        return proc, line

    def tell(self, proc: subprocess.Popen[str], line: str) -> None:
        assert proc.stdin is not None
        proc.stdin.write(line + "\n")
        proc.stdin.flush()

    def sigkill(self, proc: subprocess.Popen[str]) -> None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()
