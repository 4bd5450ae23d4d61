"""Coordination test fixtures: a migrated database per test, owner leases held the way
a replica's run store holds them, and helper processes that are always killed."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from coord_helpers import Helpers
from postgres_server import PostgresServer

from infra_gitops import coordination, postgres
from infra_gitops.postgres import DatabaseUrl


@pytest.fixture
def url(database_url: str) -> DatabaseUrl:
    """The test's database, with the coordination tables."""
    parsed = DatabaseUrl.parse(database_url)
    coordination.migrate(parsed)
    return parsed


@pytest.fixture
def lease(url: DatabaseUrl) -> Iterator[Callable[[str], psycopg.Connection[Any]]]:
    """lease(token): hold token's owner lease in this process (as a live replica's store
    does) until the test ends."""
    conns: list[psycopg.Connection[Any]] = []

    def take(token: str) -> psycopg.Connection[Any]:
        conn = postgres.connect(url, autocommit=True)
        conns.append(conn)
        assert postgres.take_owner_lease(conn, token)
        return conn

    yield take
    for conn in conns:
        conn.close()


@pytest.fixture
def helpers() -> Iterator[Helpers]:
    procs = Helpers()
    yield procs
    procs.kill_all()


@pytest.fixture
def restarted(postgres_server: PostgresServer) -> Iterator[PostgresServer]:
    """The session's server, for a test that stops it: started again after the test
    however it ends."""
    try:
        yield postgres_server
    finally:
        with contextlib.suppress(RuntimeError):  # already running
            postgres_server.start()
