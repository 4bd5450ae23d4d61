"""Fixtures every test folder may use: a real PostgreSQL server (one per session) and a
fresh database per test. Requested only by the tests that need them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from postgres_server import PostgresServer, remove, start_server

from infra_gitops.postgres import DatabaseUrl


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


@pytest.fixture(params=["sqlite", "postgres"])
def records_url(request: pytest.FixtureRequest) -> DatabaseUrl | None:
    """The run store's back end for a test that runs on both: None for SQLite in the
    state dir, else a fresh PostgreSQL database. Narrow a test to SQLite with
    `@pytest.mark.parametrize("records_url", ["sqlite"], indirect=True)`."""
    if request.param == "sqlite":
        return None
    return DatabaseUrl.parse(request.getfixturevalue("database_url"))


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    """A moto server on 127.0.0.1 for the module, as the endpoint URL. Its state is
    process-wide: tests use resource names of their own."""
    from moto.server import ThreadedMotoServer  # ~1 s to import: only where it is asked

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()
