"""Replica test fixtures: the daemon tests' World (a bare remote, a working clone, the
sandbox; reused, not copied) and a fresh PostgreSQL database the replicas share."""

from __future__ import annotations

import sys
from pathlib import Path

_DAEMON_TESTS = Path(__file__).resolve().parent.parent / "daemon"
sys.path.insert(0, str(_DAEMON_TESTS))  # daemon_helpers, as the daemon tests import it

from daemon_helpers import daemon_fixtures  # noqa: E402

_fixtures = daemon_fixtures()
daemon_cloud = _fixtures.daemon_cloud
world = _fixtures.world
