"""Web test fixtures: the daemon tests' helpers (the DaemonApi stand-in, the daemon
process runner) are reused from tests/daemon, not copied."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "daemon"))
