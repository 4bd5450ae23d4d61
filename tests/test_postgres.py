"""The PostgreSQL module against a real server: URLs without passwords in anything shown,
connection errors, migrations run once by concurrent processes."""

from __future__ import annotations

import threading
import time

import pytest
from postgres_server import PostgresServer

from infra_gitops import postgres
from infra_gitops.postgres import DatabaseError, DatabaseUrl


def test_url_display_hides_the_password() -> None:
    url = DatabaseUrl.parse("postgresql://app:s3cr%40t@db.internal:5433/infra")
    assert url.display == "postgresql://app:***@db.internal:5433/infra"
    assert "s3cr" not in str(url) and "s3cr" not in repr(url)
    assert url.dsn.startswith("postgresql://app:s3cr%40t@")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("mysql://u:p@h/db", "must start with postgresql://"),
        ("postgresql://u:hunter2@h:5432", "names no database"),
        ("postgresql://u:hunter2@h:notaport/db", "malformed"),
    ],
)
def test_bad_urls_are_refused_without_showing_the_password(text: str, says: str) -> None:
    with pytest.raises(DatabaseError) as caught:
        DatabaseUrl.parse(text)
    assert says in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_url_comes_from_the_option_else_the_environment() -> None:
    env = {postgres.DATABASE_URL_ENV: "postgresql://u@h/fromenv"}
    assert postgres.url_from(None, env) == DatabaseUrl("postgresql://u@h/fromenv")
    assert postgres.url_from("postgresql://u@h/opt", env) == DatabaseUrl("postgresql://u@h/opt")
    assert postgres.url_from(None, {}) is None


def test_a_wrong_password_is_a_clear_error_without_the_password(
    postgres_server: PostgresServer,
) -> None:
    url = DatabaseUrl.parse(postgres_server.url().replace(postgres_server.password, "wrongpw1"))
    with pytest.raises(DatabaseError) as caught:
        postgres.connect(url)
    message = str(caught.value)
    assert "cannot connect to postgresql://infra_gitops:***@127.0.0.1" in message
    assert "password authentication failed" in message
    assert "wrongpw1" not in message


def test_migrations_run_once_when_replicas_start_together(database_url: str) -> None:
    url = DatabaseUrl.parse(database_url)
    calls: list[int] = []

    def create(conn: object) -> None:
        calls.append(1)
        conn.execute("CREATE TABLE things (id INTEGER PRIMARY KEY)")  # type: ignore[attr-defined]

    def add_column(conn: object) -> None:
        calls.append(2)
        conn.execute("ALTER TABLE things ADD COLUMN name TEXT")  # type: ignore[attr-defined]

    old_versions: list[int] = []

    def start() -> None:
        old_versions.append(postgres.migrate(url, "things", [create, add_column]))

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [1, 2]
    assert sorted(old_versions) == [0, 2, 2, 2]
    with postgres.connection(url) as conn:
        assert postgres.schema_version(conn, "things") == 2


def test_a_database_from_a_newer_version_is_refused(database_url: str) -> None:
    url = DatabaseUrl.parse(database_url)
    postgres.migrate(url, "things", [lambda c: None, lambda c: None])
    with pytest.raises(DatabaseError, match="schema version 2, written by a newer infra-gitops"):
        postgres.migrate(url, "things", [lambda c: None])


def test_an_owner_lease_is_held_until_its_connection_ends(database_url: str) -> None:
    url = DatabaseUrl.parse(database_url)
    owner = postgres.connect(url, autocommit=True)
    assert postgres.take_owner_lease(owner, "replica-1")
    with postgres.connection(url) as other:
        assert not postgres.take_owner_lease(other, "replica-1")
        with other.transaction():
            assert not postgres.owner_lease_free(other, "replica-1")
            assert postgres.owner_lease_free(other, "replica-2")
        owner.close()  # the owner dies: its lease with it

        def freed() -> bool:
            with other.transaction():
                return postgres.owner_lease_free(other, "replica-1")

        # The server ends the closed session (and its lock) a moment after the client.
        deadline = time.monotonic() + 5
        while not freed() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert freed()
