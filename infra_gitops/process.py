"""The one way this package runs a subprocess: captured, time-limited, killed as a group."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from infra_gitops.errors import CommandTimeoutError

LineSink = Callable[[str], None]


@dataclass(frozen=True)
class Completed:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def run(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 1800.0,
    on_stdout_line: LineSink | None = None,
    on_stderr_line: LineSink | None = None,
    stdin: str | None = None,
) -> Completed:
    """Run argv to completion and capture its output.

    The child gets its own session, so a timeout kills the whole process group
    (Terraform and the provider plugins it started), never just the parent.
    """
    proc = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=dict(env) if env is not None else None,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    out_lines: list[str] = []
    err_lines: list[str] = []
    readers = [
        threading.Thread(target=_pump, args=(proc.stdout, out_lines, on_stdout_line), daemon=True),
        threading.Thread(target=_pump, args=(proc.stderr, err_lines, on_stderr_line), daemon=True),
    ]
    for reader in readers:
        reader.start()
    if stdin is not None and proc.stdin is not None:
        proc.stdin.write(stdin)
        proc.stdin.close()
    try:
        returncode = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        for reader in readers:
            reader.join(timeout=5)
        _close_pipes(proc)
        raise CommandTimeoutError(
            f"{Path(argv[0]).name} {' '.join(argv[1:2])} ran past its timeout of {timeout:g}s "
            "and was killed with its child processes"
        ) from None
    except BaseException:
        kill_group(proc)
        raise
    for reader in readers:
        reader.join()
    _close_pipes(proc)
    return Completed(tuple(argv), returncode, "".join(out_lines), "".join(err_lines))


@contextlib.contextmanager
def output_file(log_file: Path | None) -> Iterator[int]:
    """A file descriptor appending to log_file (DEVNULL when None) for a long-lived
    child's output; closed here once the child has its own copy."""
    if log_file is None:
        yield subprocess.DEVNULL
        return
    log_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        yield fd
    finally:
        os.close(fd)


def pid_exists(pid: int) -> bool:
    """Whether some process (possibly a zombie, possibly another user's) has this pid."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def kill_group(proc: subprocess.Popen[str]) -> None:
    """SIGTERM the process group, then SIGKILL what is left after a short grace."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _close_pipes(proc: subprocess.Popen[str]) -> None:
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None and not pipe.closed:
            pipe.close()


def _pump(stream: object, sink: list[str], on_line: LineSink | None) -> None:
    assert stream is not None
    for line in stream:  # type: ignore[attr-defined]
        sink.append(line)
        if on_line is not None:
            on_line(line.rstrip("\n"))
