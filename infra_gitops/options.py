"""What a command was asked to do (the parsed common flags), and where state lives.

Apart from session.py so that parsing and the short commands (`status`, `history`)
need none of what a session opens (Git, engines, the manifest).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from infra_gitops.postgres import DatabaseUrl

DEFAULT_TIMEOUT = 1800.0


def default_state_dir() -> Path:
    explicit = os.environ.get("INFRA_GITOPS_HOME")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(xdg) / "infra-gitops"


@dataclass(frozen=True)
class Options:
    repo: Path
    state_dir: Path
    ref: str | None = None
    stacks: tuple[str, ...] = ()
    parallelism: int = 2
    timeout: float = DEFAULT_TIMEOUT
    lock_wait: float = 0.0
    trigger: str = "cli"
    database_url: DatabaseUrl | None = None
    """PostgreSQL for the run records (replicas share it); None: SQLite in state_dir."""
    artifact_store: str | None = None
    """files, database or s3://BUCKET/PREFIX; None: files, or database with a database."""
