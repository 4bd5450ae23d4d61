"""Fixtures every test folder may use: a real PostgreSQL server (one per session) and a
fresh database per test. Requested only by the tests that need them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from postgres_server import PostgresServer, remove, start_server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A throw-away PostgreSQL cluster on a free loopback port. Fails (never skips) when
    PostgreSQL cannot be started: scripts/test-deps.sh installs it."""
    try:
        server = start_server()
    except (RuntimeError, OSError) as exc:
        pytest.fail(f"cannot start a PostgreSQL server for the tests: {exc}", pytrace=False)
    try:
        yield server
    finally:
        remove(server)


@pytest.fixture
def database_url(postgres_server: PostgresServer) -> str:
    """The URL (with its password) of a new, empty database for this test."""
    return postgres_server.create_database()
