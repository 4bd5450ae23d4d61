"""Web edge fixtures: the daemon tests' helpers (FakeDaemonApi, the daemon world) are
importable here, and one auth store with an account per role serves a whole module
(argon2 makes each password ~0.3 s: made once, not per test)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_DAEMON_TESTS = Path(__file__).resolve().parent.parent / "daemon"
sys.path.insert(0, str(_DAEMON_TESTS))  # edge_helpers, daemon_helpers

from daemon_helpers import MANIFEST, World  # noqa: E402

from infra_gitops.auth.rbac import parse_grants  # noqa: E402
from infra_gitops.auth.store import AuthStore  # noqa: E402

PASSWORD = "correct horse battery"


def with_policy(policy: str) -> str:
    """The daemon tests' manifest with another default policy."""
    manifest = MANIFEST.replace(
        "policy: {drift_interval: 5m, self_heal: true, auto_apply: true}", f"policy: {policy}"
    )
    assert manifest != MANIFEST
    return manifest


HANDS_OFF = with_policy("{drift_interval: 1h, self_heal: false, auto_apply: false}")
"""Nothing happens by itself: no auto-apply, no self-heal, no scheduled drift check (only
what a person asks for)."""


def declare(world: World, manifest: str, message: str) -> str:
    """Push manifest as a commit (its SHA returned), with the accounts ada (admin) and
    rita (readonly) in the world's state dir."""
    (world.work / "gitops.yaml").write_text(manifest)
    head = world.commit_and_push(message)
    with AuthStore.open(world.state_dir) as store:
        store.accounts.add("ada", PASSWORD, parse_grants(["admin"]))
        store.accounts.add("rita", PASSWORD, parse_grants(["readonly"]))
    return head


ACCOUNTS = {
    "ada": ["admin"],
    "olga": ["operator:app*"],
    "rita": ["readonly"],
}


@pytest.fixture(scope="module")
def auth_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthStore]:
    """SQLite auth tables in a state dir of their own, with ACCOUNTS (password PASSWORD)."""
    state_dir = tmp_path_factory.mktemp("auth-state")
    with AuthStore.open(state_dir) as store:
        for name, roles in ACCOUNTS.items():
            store.accounts.add(name, PASSWORD, parse_grants(roles))
        yield store


def _daemon_fixtures() -> object:
    spec = importlib.util.spec_from_file_location("daemon_conftest", _DAEMON_TESTS / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_fixtures = _daemon_fixtures()
daemon_cloud = _fixtures.daemon_cloud  # type: ignore[attr-defined]
world = _fixtures.world  # type: ignore[attr-defined]
