"""What a process keeps under the state dir only while it runs, and the sweep of what a
killed one left behind.

Snapshots of the repo, saved plan files (which hold variable values, secrets included,
in clear) and scratch copies are removed by their owner when its work ends. A process
killed with SIGKILL cannot do that, so each such entry is named after its owner
(`owned_name`): host, pid and start time. At every start of the CLI or the daemon,
`sweep` removes the entries whose owner is gone; those of live processes (another
command running meanwhile, on this host or another one sharing the state dir) stay.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from infra_gitops.engines.base import PLANS_DIR
from infra_gitops.process import own_identity, pid_exists, process_info

SWEPT_PATTERNS = (
    "snapshots/*",
    "rollback/*",
    "ci/*",
    "daemon/scratch/*",
    # <repo key>/<stack>/<workspace>/plans/<plan file>: names have no "/" (schema).
    f"work/*/*/*/{PLANS_DIR}/*",
)
"""Where owned entries live, relative to the state dir."""

_OWNED = re.compile(r"^(?P<host>[0-9a-f]{8})-(?P<pid>[0-9]+)-(?P<start>[0-9a-f]{8}|x)\.")


@dataclass(frozen=True)
class Owner:
    """The process an entry belongs to, as read back from its name."""

    host_key: str
    pid: int
    start_key: str | None
    """None when the owner had no /proc to read its start time from."""

    def alive(self) -> bool | None:
        """Whether it still runs; None when it cannot be told (another host)."""
        if self.host_key != _key(socket.gethostname()):
            return None
        if self.start_key is None:
            return pid_exists(self.pid)
        info = process_info(self.pid)
        return (
            info is not None
            and info.state not in ("Z", "X")
            and _key(info.start) == (self.start_key)
        )


def owner_tag() -> str:
    """This process's tag: `<host key>-<pid>-<start key>`."""
    pid, host, start = own_identity()
    return f"{_key(host)}-{pid}-{_key(start) if start else 'x'}"


def owned_name(name: str) -> str:
    """name, prefixed with this process's tag, for an entry under SWEPT_PATTERNS."""
    return f"{owner_tag()}.{name}"


def owner_of(entry_name: str) -> Owner | None:
    """The owner an entry's name records; None for names not made by owned_name."""
    match = _OWNED.match(entry_name)
    if match is None:
        return None
    start = match["start"]
    return Owner(match["host"], int(match["pid"]), None if start == "x" else start)


def sweep(state_dir: Path) -> list[Path]:
    """Remove the owned entries whose owner is gone; returns what was removed."""
    removed = []
    for entry in _owned_entries(Path(state_dir)):
        owner = owner_of(entry.name)
        if owner is None or owner.alive() is not False:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        if not entry.exists() and not entry.is_symlink():
            removed.append(entry)
    return removed


def _owned_entries(state_dir: Path) -> Iterator[Path]:
    for pattern in SWEPT_PATTERNS:
        yield from state_dir.glob(pattern)


def _key(value: str) -> str:
    # Short and free of separators; a collision only keeps an entry until a later sweep.
    return hashlib.sha256(value.encode()).hexdigest()[:8]
