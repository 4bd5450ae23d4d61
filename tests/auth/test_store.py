"""Accounts, logins with lockout and rehash, API tokens and sessions on the real
databases: SQLite in a state dir and PostgreSQL (every test runs on both)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from conftest import MovableClock

from infra_gitops.auth import credentials
from infra_gitops.auth.errors import AuthError, Reason, Refused
from infra_gitops.auth.rbac import Action, Principal, can, parse_grants
from infra_gitops.auth.sessions import csrf_ok, csrf_token
from infra_gitops.auth.store import AuthStore
from infra_gitops.postgres import DatabaseUrl
from infra_gitops.runs import RunStore

PASSWORD = "correct horse battery"
ADMIN = parse_grants(["admin"])
OPERATOR_APPS = parse_grants(["operator:app-*", "readonly"])


def refusal(call: object, *args: object) -> Reason:
    with pytest.raises(Refused) as caught:
        call(*args)  # type: ignore[operator]
    return caught.value.reason


# ---------------------------------------------------------------- accounts and logins


def test_an_account_logs_in_with_its_password_and_gets_its_grants(auth: AuthStore) -> None:
    auth.accounts.add("bob", PASSWORD, OPERATOR_APPS)

    principal = auth.accounts.login("bob", PASSWORD)

    assert principal == Principal("bob", OPERATOR_APPS, via="password")
    assert can(principal, Action.SYNC, "app-web") and not can(principal, Action.SYNC, "network")
    assert auth.accounts.get("bob").last_login_at is not None


def test_a_wrong_password_and_an_unknown_name_are_the_same_refusal(auth: AuthStore) -> None:
    auth.accounts.add("bob", PASSWORD, ADMIN)

    assert refusal(auth.accounts.login, "bob", "wrong password") is Reason.BAD_CREDENTIALS
    assert refusal(auth.accounts.login, "nobody", PASSWORD) is Reason.BAD_CREDENTIALS


def test_failed_logins_lock_the_account_for_growing_times(
    auth: AuthStore, clock: MovableClock
) -> None:
    auth.accounts.add("bob", PASSWORD, ADMIN)
    for _ in range(5):
        refusal(auth.accounts.login, "bob", "guess")

    # Locked: even the right password is refused, for 30 s.
    assert refusal(auth.accounts.login, "bob", PASSWORD) is Reason.LOCKED
    clock.advance(seconds=31)
    assert refusal(auth.accounts.login, "bob", "guess again") is Reason.BAD_CREDENTIALS
    clock.advance(seconds=31)  # the sixth failure locked it for 60 s
    assert refusal(auth.accounts.login, "bob", PASSWORD) is Reason.LOCKED
    clock.advance(seconds=30)
    assert auth.accounts.login("bob", PASSWORD).name == "bob"
    # A success starts the count again.
    assert auth.accounts.get("bob").failed_logins == 0
    refusal(auth.accounts.login, "bob", "guess")
    assert auth.accounts.login("bob", PASSWORD).name == "bob"


def test_enable_lifts_a_lockout(auth: AuthStore) -> None:
    auth.accounts.add("bob", PASSWORD, ADMIN)
    for _ in range(5):
        refusal(auth.accounts.login, "bob", "guess")
    assert auth.accounts.get("bob").locked_until is not None

    auth.accounts.set_disabled("bob", False)

    assert auth.accounts.login("bob", PASSWORD).name == "bob"


def test_a_disabled_account_cannot_log_in_until_enabled(auth: AuthStore) -> None:
    auth.accounts.add("bob", PASSWORD, ADMIN)
    auth.accounts.set_disabled("bob", True)

    assert refusal(auth.accounts.login, "bob", PASSWORD) is Reason.DISABLED
    auth.accounts.set_disabled("bob", False)
    assert auth.accounts.login("bob", PASSWORD).name == "bob"


def test_a_login_rehashes_a_password_hashed_with_old_parameters(
    tmp_path: Path, records_url: DatabaseUrl | None, clock: MovableClock
) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)
    with AuthStore.open(tmp_path / "state", records_url, clock=clock) as auth:
        auth.accounts.add("bob", "a first password", ADMIN)
        _set_hash(auth, "bob", weak)

        auth.accounts.login("bob", PASSWORD)

        stored = _hash_of(auth, "bob")
    assert stored != weak and "m=1024" not in stored
    assert PasswordHasher().verify(stored, PASSWORD)


def test_a_new_password_replaces_the_old_and_ends_sessions(auth: AuthStore) -> None:
    auth.accounts.add("bob", PASSWORD, ADMIN)
    session = auth.sessions.create_session(auth.accounts.login("bob", PASSWORD))

    auth.accounts.set_password("bob", "a new pass phrase")

    assert refusal(auth.accounts.login, "bob", PASSWORD) is Reason.BAD_CREDENTIALS
    assert auth.accounts.login("bob", "a new pass phrase").name == "bob"
    assert auth.sessions.session_for(session.id) is None


def test_bad_input_names_what_and_changes_nothing(auth: AuthStore) -> None:
    auth.accounts.add("bob", PASSWORD, ADMIN)
    cases = [
        (lambda: auth.accounts.add("bob", PASSWORD, ADMIN), "exists already"),
        (lambda: auth.accounts.add("-bob", PASSWORD, ADMIN), "account name '-bob'"),
        (lambda: auth.accounts.add("carol", "short", ADMIN), "at least 8"),
        (lambda: auth.accounts.add("carol", PASSWORD, ()), "--role"),
        (lambda: auth.accounts.set_password("nobody", PASSWORD), "no account 'nobody'"),
        (lambda: auth.accounts.remove("nobody"), "no account 'nobody'"),
    ]
    for call, message in cases:
        with pytest.raises(AuthError) as caught:
            call()
        assert message in str(caught.value)
        assert PASSWORD not in str(caught.value)

    assert [a.name for a in auth.accounts.list()] == ["bob"]


def test_roles_can_be_replaced(auth: AuthStore) -> None:
    auth.accounts.add("bob", PASSWORD, ADMIN)

    auth.accounts.set_grants("bob", OPERATOR_APPS)

    assert auth.accounts.login("bob", PASSWORD).grants == OPERATOR_APPS


# ---------------------------------------------------------------- tokens


def test_a_token_acts_as_its_account_until_it_expires(auth: AuthStore, clock: MovableClock) -> None:
    auth.accounts.add("ci", PASSWORD, OPERATOR_APPS)
    new = auth.tokens.create("ci", timedelta(days=30), "nightly")

    assert new.secret.startswith("igt_") and new.secret not in repr(new)
    assert auth.tokens.authenticate(new.secret) == Principal("ci", OPERATOR_APPS, via="token")
    clock.advance(days=30)
    assert refusal(auth.tokens.authenticate, new.secret) is Reason.EXPIRED


def test_a_revoked_token_is_refused(auth: AuthStore) -> None:
    auth.accounts.add("ci", PASSWORD, ADMIN)
    new = auth.tokens.create("ci", timedelta(days=1))

    revoked = auth.tokens.revoke(new.info.id)

    assert revoked.revoked_at is not None
    assert refusal(auth.tokens.authenticate, new.secret) is Reason.REVOKED


def test_tokens_of_a_disabled_or_removed_account_are_refused(auth: AuthStore) -> None:
    auth.accounts.add("ci", PASSWORD, ADMIN)
    new = auth.tokens.create("ci", timedelta(days=1))

    auth.accounts.set_disabled("ci", True)
    assert refusal(auth.tokens.authenticate, new.secret) is Reason.DISABLED
    auth.accounts.remove("ci")
    assert refusal(auth.tokens.authenticate, new.secret) is Reason.UNKNOWN_TOKEN
    assert auth.tokens.list() == []


def test_unknown_and_malformed_tokens_are_refused(auth: AuthStore) -> None:
    assert refusal(auth.tokens.authenticate, credentials.new_token()) is Reason.UNKNOWN_TOKEN
    for bad in ("", "igt_short", "Bearer igt_x", "ghp_" + "a" * 43):
        assert refusal(auth.tokens.authenticate, bad) is Reason.MALFORMED


def test_a_token_records_when_it_was_last_used_at_most_once_a_minute(
    auth: AuthStore, clock: MovableClock
) -> None:
    auth.accounts.add("ci", PASSWORD, ADMIN)
    new = auth.tokens.create("ci", timedelta(days=1))
    assert auth.tokens.list()[0].last_used_at is None

    auth.tokens.authenticate(new.secret)
    first = auth.tokens.list()[0].last_used_at
    clock.advance(seconds=10)
    auth.tokens.authenticate(new.secret)
    assert auth.tokens.list()[0].last_used_at == first == clock.now - timedelta(seconds=10)
    clock.advance(seconds=60)
    auth.tokens.authenticate(new.secret)
    assert auth.tokens.list()[0].last_used_at == clock.now


def test_a_token_needs_an_expiry_within_the_maximum(auth: AuthStore) -> None:
    auth.accounts.add("ci", PASSWORD, ADMIN)

    with pytest.raises(AuthError, match="at most 365 days"):
        auth.tokens.create("ci", timedelta(days=366))
    with pytest.raises(AuthError, match="no account 'nobody'"):
        auth.tokens.create("nobody", timedelta(days=1))
    with pytest.raises(AuthError, match="no token with id 'abc'"):
        auth.tokens.revoke("abc")
    assert auth.tokens.list() == []


def test_only_digests_of_tokens_and_sessions_are_stored(auth: AuthStore) -> None:
    auth.accounts.add("ci", PASSWORD, ADMIN)
    token = auth.tokens.create("ci", timedelta(days=1)).secret
    session = auth.sessions.create_session(auth.accounts.login("ci", PASSWORD))

    dump = _dump(auth)

    assert credentials.digest(token) in dump and credentials.digest(session.id) in dump
    for secret in (token, token.removeprefix("igt_"), session.id, PASSWORD):
        assert secret not in dump


# ---------------------------------------------------------------- sessions


def test_a_session_lives_while_used_and_ends_when_idle(
    auth: AuthStore, clock: MovableClock
) -> None:
    auth.accounts.add("bob", PASSWORD, ADMIN)
    session = auth.sessions.create_session(auth.accounts.login("bob", PASSWORD))

    for _ in range(3):  # 3 x 50 min of activity: longer than the idle hour
        clock.advance(minutes=50)
        found = auth.sessions.session_for(session.id)
        assert found is not None and found.principal == Principal("bob", ADMIN, via="session")
    clock.advance(minutes=61)
    assert auth.sessions.session_for(session.id) is None


def test_a_session_ends_at_its_absolute_expiry_however_busy(
    auth: AuthStore, clock: MovableClock
) -> None:
    auth.accounts.add("bob", PASSWORD, ADMIN)
    session = auth.sessions.create_session(auth.accounts.login("bob", PASSWORD))

    for _ in range(23):  # every 30 min for 11.5 h
        clock.advance(minutes=30)
        assert auth.sessions.session_for(session.id) is not None
    clock.advance(minutes=30)
    assert auth.sessions.session_for(session.id) is None


def test_logout_disable_and_unknown_ids_end_sessions(auth: AuthStore) -> None:
    auth.accounts.add("bob", PASSWORD, ADMIN)
    first = auth.sessions.create_session(auth.accounts.login("bob", PASSWORD))
    second = auth.sessions.create_session(auth.accounts.login("bob", PASSWORD))

    auth.sessions.end_session(first.id)
    assert auth.sessions.session_for(first.id) is None
    assert auth.sessions.session_for(second.id) is not None
    auth.accounts.set_disabled("bob", True)
    assert auth.sessions.session_for(second.id) is None
    assert auth.sessions.session_for("") is None
    assert auth.sessions.session_for(credentials.new_session_id()) is None


def test_a_session_sees_role_changes_of_its_account(auth: AuthStore) -> None:
    auth.accounts.add("bob", PASSWORD, ADMIN)
    session = auth.sessions.create_session(auth.accounts.login("bob", PASSWORD))

    auth.accounts.set_grants("bob", OPERATOR_APPS)

    found = auth.sessions.session_for(session.id)
    assert found is not None and found.principal.grants == OPERATOR_APPS


def test_a_single_sign_on_session_keeps_the_grants_of_its_groups(auth: AuthStore) -> None:
    principal = Principal("ada@example.com", OPERATOR_APPS, via="oidc")

    session = auth.sessions.create_session(principal)

    assert auth.sessions.session_for(session.id) == session
    assert session.principal == principal


def test_csrf_tokens_are_per_session_and_forgeries_are_refused(auth: AuthStore) -> None:
    auth.accounts.add("bob", PASSWORD, ADMIN)
    mine = auth.sessions.create_session(auth.accounts.login("bob", PASSWORD))
    other = auth.sessions.create_session(auth.accounts.login("bob", PASSWORD))
    again = auth.sessions.session_for(mine.id)
    assert again is not None

    assert csrf_ok(again, csrf_token(mine))  # stable across requests of one session
    assert not csrf_ok(mine, csrf_token(other))  # another session's token
    assert not csrf_ok(mine, "")
    assert not csrf_ok(mine, None)
    forged = csrf_token(mine)[:-1] + ("0" if csrf_token(mine)[-1] != "0" else "1")
    assert not csrf_ok(mine, forged)
    assert not csrf_ok(mine, credentials.mac(credentials.new_secret(), "csrf:" + mine.id))


# ---------------------------------------------------------------- the database


def test_the_auth_tables_live_beside_the_run_records_in_either_order(
    tmp_path: Path, records_url: DatabaseUrl | None, clock: MovableClock
) -> None:
    state = tmp_path / "state"
    with AuthStore.open(state, records_url, clock=clock) as auth:
        auth.accounts.add("bob", PASSWORD, ADMIN)
    with RunStore.open(state, database_url=records_url) as runs:
        runs.check()
        assert runs.list() == []
    with AuthStore.open(state, records_url, clock=clock) as auth:  # migrated once only
        assert [a.name for a in auth.accounts.list()] == ["bob"]


def test_a_database_from_a_newer_version_is_refused(
    tmp_path: Path, records_url: DatabaseUrl | None
) -> None:
    state = tmp_path / "state"
    with AuthStore.open(state, records_url) as auth:
        _execute(auth, "UPDATE infra_gitops_schema SET version = 99 WHERE component = 'auth'")

    with pytest.raises(Exception, match="newer infra-gitops"), AuthStore.open(state, records_url):
        pass


# ---------------------------------------------------------------- helpers


def _execute(auth: AuthStore, sql: str, params: tuple[str, ...] = ()) -> None:
    with auth.accounts._db.transaction(write=True) as tx:
        tx.execute(sql, params)


def _set_hash(auth: AuthStore, name: str, password_hash: str) -> None:
    _execute(
        auth, "UPDATE auth_accounts SET password_hash = ? WHERE name = ?", (password_hash, name)
    )


def _hash_of(auth: AuthStore, name: str) -> str:
    with auth.accounts._db.transaction(write=False) as tx:
        row = tx.execute("SELECT password_hash FROM auth_accounts WHERE name = ?", (name,))
        return str(row.fetchone()["password_hash"])


def _dump(auth: AuthStore) -> str:
    """Every value in the auth tables, as text."""
    values = []
    with auth.accounts._db.transaction(write=False) as tx:
        for table in ("auth_accounts", "auth_tokens", "auth_sessions"):
            for row in tx.execute(f"SELECT * FROM {table}").fetchall():
                values += [str(value) for value in dict(row).values()]
    return "\n".join(values)
