"""The AWS emulator: a moto server in its own process on 127.0.0.1.

Two ways to run it: `running_emulator()` for tests (stopped when the block ends) and
`start_detached()` for `sandbox up` (outlives the CLI; its pid and endpoint are kept in
a JSON state file so a later `status` or `down` finds it).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from infra_gitops.errors import SandboxError
from infra_gitops.process import output_file, pid_exists

STATE_FILE_NAME = "sandbox.json"
LOG_FILE_NAME = "emulator.log"
_START_TIMEOUT = 30.0
_STOP_GRACE = 5.0
# A moto server is recognised by its command line, so a recycled pid is not mistaken for it.
_MOTO_MARKERS = ("moto.server", "moto_server")


@dataclass(frozen=True)
class EmulatorInfo:
    """A running moto server."""

    pid: int
    port: int
    endpoint: str
    log_file: str | None = None


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def emulator_argv(port: int) -> list[str]:
    return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]


def emulator_env(environ: Mapping[str, str]) -> dict[str, str]:
    """Ours without any AWS_* variable: the emulator needs no credentials, and moto reads
    AWS_PROFILE on every request (a profile missing from ~/.aws fails them all)."""
    return {k: v for k, v in environ.items() if not k.startswith("AWS_")}


def is_answering(endpoint: str, timeout: float = 1.0) -> bool:
    """True when a moto server answers at endpoint."""
    try:
        with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=timeout) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def reset(endpoint: str) -> None:
    """Forget every resource in the emulator (all services, all regions)."""
    req = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST", data=b"")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            resp.read()
    except (urllib.error.URLError, OSError) as exc:
        raise SandboxError(f"cannot reset the AWS emulator at {endpoint}: {exc}") from exc


@contextlib.contextmanager
def running_emulator(log_file: Path | None = None) -> Iterator[EmulatorInfo]:
    """Start a moto server for the duration of the block, then kill its process group."""
    proc, info = _spawn(log_file)
    try:
        yield info
    finally:
        _kill_group(proc.pid, proc)


def start_detached(state_dir: Path) -> EmulatorInfo:
    """Start a moto server that outlives this process; record it in the state file.

    Returns the running one instead when the state file points at a live emulator.
    """
    current = status(state_dir)
    if current is not None:
        return current
    sandbox_dir = state_dir / "sandbox"
    sandbox_dir.mkdir(parents=True, exist_ok=True)
    proc, info = _spawn(sandbox_dir / LOG_FILE_NAME)
    # Left running on purpose: tell Popen it is not ours to wait for (no ResourceWarning).
    # stop_detached() reaps it through the pid if this process is still its parent.
    proc.returncode = 0
    _write_state(state_file(state_dir), info)
    return info


def status(state_dir: Path) -> EmulatorInfo | None:
    """The detached emulator if it is alive, else None.

    The state file of a dead emulator is kept (see recorded()): commands refuse to run
    rather than fall back to the environment's cloud, until `sandbox up` or `down`.
    """
    info = recorded(state_dir)
    if info is not None and _is_moto_process(info.pid) and is_answering(info.endpoint):
        return info
    return None


def recorded(state_dir: Path) -> EmulatorInfo | None:
    """The emulator `sandbox up` recorded for this state dir, alive or not."""
    return _read_state(state_file(state_dir))


def stop_detached(state_dir: Path) -> bool:
    """Stop the detached emulator. False when none was running."""
    path = state_file(state_dir)
    info = _read_state(path)
    if info is None:
        return False
    alive = _is_moto_process(info.pid)
    if alive:
        _kill_group(info.pid, None)
    path.unlink(missing_ok=True)
    return alive


def state_file(state_dir: Path) -> Path:
    return state_dir / "sandbox" / STATE_FILE_NAME


def _spawn(log_file: Path | None) -> tuple[subprocess.Popen[bytes], EmulatorInfo]:
    # The port is picked before the server binds it; on the rare race, try another one.
    last_error = ""
    for _attempt in range(3):
        port = free_port()
        with output_file(log_file) as sink:
            proc = subprocess.Popen(
                emulator_argv(port),
                env=emulator_env(os.environ),
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        info = EmulatorInfo(proc.pid, port, f"http://127.0.0.1:{port}", _str_or_none(log_file))
        if _wait_until_answering(proc, info.endpoint):
            return proc, info
        _kill_group(proc.pid, proc)
        last_error = _tail(log_file)
    raise SandboxError(
        "the AWS emulator (moto server) did not start"
        + (f"; its log ends with:\n{last_error}" if last_error else "")
    )


def _wait_until_answering(proc: subprocess.Popen[bytes], endpoint: str) -> bool:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if is_answering(endpoint, timeout=0.5):
            return True
        time.sleep(0.05)
    return False


def _kill_group(pid: int, proc: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM the emulator's process group, SIGKILL it after a grace period, reap it."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            break
        if _wait_gone(pid, proc, _STOP_GRACE):
            break
    if proc is not None:
        proc.wait()


def _wait_gone(pid: int, proc: subprocess.Popen[bytes] | None, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None:
            if proc.poll() is not None:
                return True
        elif not _pid_alive(pid):
            return True
        time.sleep(0.05)
    return False


def _pid_alive(pid: int) -> bool:
    # The detached server may be our own child (started by this process): reap it if it
    # exited, otherwise it lingers as a zombie and still answers kill(pid, 0).
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return pid_exists(pid)


def _is_moto_process(pid: int) -> bool:
    if not _pid_alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        # No /proc (macOS): trust the pid, the endpoint check follows.
        return True
    return any(marker in cmdline for marker in _MOTO_MARKERS)


def _write_state(path: Path, info: EmulatorInfo) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(info), indent=2) + "\n")
    tmp.replace(path)


def _read_state(path: Path) -> EmulatorInfo | None:
    try:
        data = json.loads(path.read_text())
        return EmulatorInfo(
            pid=int(data["pid"]),
            port=int(data["port"]),
            endpoint=str(data["endpoint"]),
            log_file=data.get("log_file"),
        )
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        # A half-written or foreign file: treat it as stale.
        path.unlink(missing_ok=True)
        return None


def _tail(log_file: Path | None, lines: int = 10) -> str:
    if log_file is None or not log_file.exists():
        return ""
    return "\n".join(log_file.read_text(errors="replace").splitlines()[-lines:])


def _str_or_none(path: Path | None) -> str | None:
    return str(path) if path is not None else None
