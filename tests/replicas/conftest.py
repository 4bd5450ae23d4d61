"""Replica test fixtures: the daemon tests' World (a bare remote, a working clone, the
sandbox; reused, not copied) and a fresh PostgreSQL database the replicas share."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_DAEMON_TESTS = Path(__file__).resolve().parent.parent / "daemon"
sys.path.insert(0, str(_DAEMON_TESTS))  # daemon_helpers, as the daemon tests import it


def _daemon_fixtures() -> object:
    spec = importlib.util.spec_from_file_location("daemon_conftest", _DAEMON_TESTS / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_fixtures = _daemon_fixtures()
daemon_cloud = _fixtures.daemon_cloud  # type: ignore[attr-defined]
world = _fixtures.world  # type: ignore[attr-defined]
