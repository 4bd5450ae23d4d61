"""Web edge fixtures: the daemon tests' helpers (FakeDaemonApi, the daemon world) are
importable here, and one auth store with an account per role serves a whole module
(argon2 makes each password ~0.3 s: made once, not per test)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_DAEMON_TESTS = Path(__file__).resolve().parent.parent / "daemon"
sys.path.insert(0, str(_DAEMON_TESTS))  # edge_helpers, daemon_helpers

from daemon_helpers import daemon_fixtures  # noqa: E402
from web_helpers import ACCOUNTS, PASSWORD  # noqa: E402

from infra_gitops.auth.rbac import parse_grants  # noqa: E402
from infra_gitops.auth.store import AuthStore  # noqa: E402


@pytest.fixture(scope="module")
def auth_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthStore]:
    """SQLite auth tables in a state dir of their own, with ACCOUNTS (password PASSWORD)."""
    state_dir = tmp_path_factory.mktemp("auth-state")
    with AuthStore.open(state_dir) as store:
        for name, roles in ACCOUNTS.items():
            store.accounts.add(name, PASSWORD, parse_grants(roles))
        yield store


_fixtures = daemon_fixtures()
daemon_cloud = _fixtures.daemon_cloud
world = _fixtures.world
