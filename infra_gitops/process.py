"""The one way this package runs a subprocess: captured, time-limited, killed as a group."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from infra_gitops.errors import CommandTimeoutError, EngineError

LineSink = Callable[[str], None]

PARENT_PID_ENV = "INFRA_GITOPS_PARENT_PID"
"""Set in the environment of the children we start: the pid they must not outlive."""
_PR_SET_PDEATHSIG = 1
_WATCHDOG_POLL_S = 0.5
_WATCHDOG_GRACE_S = 10.0
_CANCEL_POLL_S = 0.1
"""How often a run under cancel_on looks at its events."""
_cancel_events = threading.local()


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
    Under cancel_on(event), a set event stops it (or never lets it start).
    """
    if _cancel_requested():
        raise EngineError(_lost_lock_message(argv, "was not started"))
    proc = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=child_env(env),
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
        returncode = _wait(proc, timeout)
    except _Cancelled:
        kill_group(proc)
        for reader in readers:
            reader.join(timeout=5)
        _close_pipes(proc)
        raise EngineError(
            _lost_lock_message(argv, "was stopped, with its child processes")
        ) from None
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
def cancel_on(event: threading.Event) -> Iterator[None]:
    """Within the block, in this thread, a process.run whose event gets set is stopped:
    its process group is killed and it raises EngineError (a lost stack lock: the
    operation must not go on). Nests: any of the events stops it."""
    events: list[threading.Event] = _cancel_events.__dict__.setdefault("events", [])
    events.append(event)
    try:
        yield
    finally:
        events.remove(event)


class _Cancelled(Exception):
    pass


def _cancel_requested() -> bool:
    return any(event.is_set() for event in _cancel_events.__dict__.get("events", ()))


def _lost_lock_message(argv: Sequence[str], what: str) -> str:
    return (
        f"{Path(argv[0]).name} {' '.join(argv[1:2])} {what}: the lock this operation held "
        "was lost (its database connection broke), so another replica may take the stack "
        "over; nothing more is done under a lock nobody can vouch for"
    )


def _wait(proc: subprocess.Popen[str], timeout: float) -> int:
    """proc.wait(timeout), in short slices when this thread runs under cancel_on."""
    events: list[threading.Event] = list(_cancel_events.__dict__.get("events", ()))
    if not events:
        return proc.wait(timeout=timeout)
    deadline = time.monotonic() + timeout
    while True:
        if any(event.is_set() for event in events):
            raise _Cancelled
        left = deadline - time.monotonic()
        if left <= 0:
            raise subprocess.TimeoutExpired(proc.args, timeout)
        try:
            return proc.wait(timeout=min(_CANCEL_POLL_S, left))
        except subprocess.TimeoutExpired:
            continue


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


def running(pid: int) -> bool:
    """Whether the process with this pid still runs: not gone, not a zombie (a dead
    child is a zombie until it is waited for, and pid_exists still sees it)."""
    info = process_info(pid)
    return info is not None and info.state not in ("Z", "X")


def child_env(env: Mapping[str, str] | None) -> dict[str, str]:
    """env (or ours) plus who we are, for children that call die_with_parent()."""
    merged = dict(os.environ if env is None else env)
    pid, _host, start = own_identity()
    merged[PARENT_PID_ENV] = f"{pid}/{start or ''}"
    return merged


def die_with_parent(sig: signal.Signals = signal.SIGTERM) -> None:
    """End this process (a child we started) when the infra-gitops process that started
    it ends, even by SIGKILL.

    Called first thing by the sandbox provider: it runs in its own session (outside
    Terraform's process group), so a SIGKILL of the CLI or daemon would otherwise leave
    it serving forever. Two mechanisms, because each alone has a gap: the kernel's
    parent-death signal (Linux) fires when the *thread* that started us exits (ours
    start it in a `with` block, so that thread outlives its use) and never for a
    grandchild (Terraform's own provider instances inherit PARENT_PID_ENV); a watchdog
    thread sees the recorded owner go within a poll. `sig` first, then a hard exit after
    a grace period.

    Terraform is not made to die this way: killed mid-command it leaves its state lock
    held (measured with the S3 backend). With its provider gone it fails at once and
    releases the lock; with a provider it started itself it finishes on its own.
    """
    owner_pid, _, owner_start = os.environ.get(PARENT_PID_ENV, "").partition("/")
    if owner_pid.isdigit():
        pid, start = int(owner_pid), owner_start or None
    else:  # started by hand: the parent is the owner
        pid, start = os.getppid(), None
    if os.getppid() == pid:
        _set_parent_death_signal(sig)
    threading.Thread(target=_watch_owner, args=(pid, start, sig), daemon=True).start()


def _set_parent_death_signal(sig: int) -> None:
    if not sys.platform.startswith("linux"):
        return  # the watchdog alone covers other systems
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)


def _watch_owner(pid: int, start: str | None, sig: signal.Signals) -> None:
    host = socket.gethostname()
    while owner_alive(pid, host, start):
        time.sleep(_WATCHDOG_POLL_S)
    os.kill(os.getpid(), sig)
    # Whatever the signal's handler does, the process ends after the grace period.
    time.sleep(_WATCHDOG_GRACE_S)
    os._exit(128 + sig)


@dataclass(frozen=True)
class ProcessInfo:
    state: str
    """The one-letter state of /proc/PID/stat (Z: a zombie, it has ended)."""
    start: str
    """Boot id and start time: names this process and no later one reusing its pid."""


def process_info(pid: int) -> ProcessInfo | None:
    """The state and a start token of a live process; None when it is gone (Linux /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    # The command name may hold spaces and parentheses: count fields after the last ")".
    fields = stat[stat.rindex(")") + 2 :].split()
    # Field 22 (starttime, ticks since boot) is fields[19]; with the boot id it names
    # this process and no later one that reuses its pid, even after a reboot.
    return ProcessInfo(state=fields[0], start=f"{boot_id()}:{fields[19]}")


def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def own_identity() -> tuple[int, str, str | None]:
    """(pid, host, start token or None without /proc) of this process."""
    info = process_info(os.getpid())
    return os.getpid(), socket.gethostname(), info.start if info else None


def owner_alive(pid: int, host: str, start: str | None) -> bool | None:
    """Whether the process (pid, host, start) still runs; None when it cannot be told
    from here (another host)."""
    if host != socket.gethostname():
        return None
    if start is not None:
        info = process_info(pid)
        # A zombie has ended; it only waits for its parent to collect its exit status.
        return info is not None and info.state not in ("Z", "X") and info.start == start
    # No /proc when it started: only "is some process using this pid".
    return pid_exists(pid)


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
