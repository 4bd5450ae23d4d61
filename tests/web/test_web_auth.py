"""Authentication and roles on the daemon's HTTP edge, over real HTTP on 127.0.0.1: the
real server (serve()) and a real auth store on SQLite, in front of a stand-in core
(FakeDaemonApi, see tests/daemon/edge_helpers.py)."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests
from edge_helpers import FakeDaemonApi, a_view
from starlette.requests import Request
from web_helpers import PASSWORD

from infra_gitops.auth.rbac import Action
from infra_gitops.auth.store import AuthStore
from infra_gitops.daemon.metrics import PrometheusMetrics
from infra_gitops.web.auth import SessionEndpoints, WebAuth, allowed, principal_of
from infra_gitops.web.server import ServerHandle, serve

STACKS = ("app", "app-db", "network")


@pytest.fixture(scope="module")
def api() -> FakeDaemonApi:
    return FakeDaemonApi(views=[a_view(name) for name in STACKS])


def _serve(api: FakeDaemonApi, auth: WebAuth) -> ServerHandle:
    return serve("127.0.0.1:0", api, PrometheusMetrics().registry, webhook_secret=None, auth=auth)


@pytest.fixture(scope="module")
def server(api: FakeDaemonApi, auth_store: AuthStore) -> Iterator[ServerHandle]:
    with _serve(api, WebAuth(auth_store)) as handle:
        yield handle


def login(server: ServerHandle, name: str, password: str = PASSWORD) -> requests.Session:
    """A browser-like client logged in as name (its cookie jar holds the session)."""
    client = requests.Session()
    answer = client.post(
        f"{server.url}/api/session", json={"name": name, "password": password}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    client.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
    return client


def stack_names(answer: requests.Response) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [view["name"] for view in answer.json()]


def test_without_a_session_or_token_only_the_public_endpoints_answer(
    server: ServerHandle,
) -> None:
    for path in ("/api/stacks", "/api/session", "/metrics", "/api/stacks/"):
        answer = requests.get(server.url + path, timeout=5)
        assert answer.status_code == 401, path
        assert answer.json() == {"error": "log in first: no live session or API token"}
        assert answer.headers["WWW-Authenticate"] == 'Bearer realm="infra-gitops"'
    assert requests.get(f"{server.url}/healthz", timeout=5).status_code == 200
    assert requests.get(f"{server.url}/readyz", timeout=5).status_code == 200
    # The webhook answers itself (no secret configured here: disabled), not 401.
    assert requests.post(f"{server.url}/webhook", data=b"{}", timeout=5).status_code == 404
    # An unknown path is 401 too: nobody learns which paths exist without logging in.
    assert requests.get(f"{server.url}/api/nothing", timeout=5).status_code == 401


def test_login_sets_an_http_only_session_cookie_and_roles_scope_the_stacks(
    server: ServerHandle, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    answer = requests.post(
        f"{server.url}/api/session", json={"name": "olga", "password": PASSWORD}, timeout=10
    )
    assert answer.status_code == 200
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith("ig_session=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie and "Max-Age" not in cookie  # plain http; server-side expiry
    me = answer.json()
    assert (me["name"], me["via"], me["roles"]) == ("olga", "password", ["operator:app*"])

    olga = login(server, "olga")
    assert stack_names(olga.get(f"{server.url}/api/stacks", timeout=5)) == ["app", "app-db"]
    assert olga.get(f"{server.url}/api/session", timeout=5).json()["name"] == "olga"
    rita = login(server, "rita")
    assert stack_names(rita.get(f"{server.url}/api/stacks", timeout=5)) == list(STACKS)
    session_id = answer.cookies["ig_session"]
    assert session_id not in caplog.text and PASSWORD not in caplog.text


def test_a_wrong_password_or_unknown_account_gets_one_answer(server: ServerHandle) -> None:
    wrong = requests.post(
        f"{server.url}/api/session", json={"name": "rita", "password": "nope-nope"}, timeout=10
    )
    unknown = requests.post(
        f"{server.url}/api/session", json={"name": "nobody", "password": "nope-nope"}, timeout=10
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert "Set-Cookie" not in wrong.headers


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b'{"name": "rita", "password": "' + PASSWORD.encode() + b'"}', "text/plain", 415),
        (b"name=rita&password=x", "application/x-www-form-urlencoded", 415),
        (b'["rita"]', "application/json", 400),
        (b"not json", "application/json", 400),
        (b'{"name": "rita", "password": "' + b"x" * 5000 + b'"}', "application/json", 413),
    ],
)
def test_a_login_that_is_not_a_small_json_object_is_refused(
    server: ServerHandle, body: bytes, content_type: str, status: int
) -> None:
    answer = requests.post(
        f"{server.url}/api/session", data=body, headers={"Content-Type": content_type}, timeout=5
    )
    assert answer.status_code == status
    assert "error" in answer.json() and "Set-Cookie" not in answer.headers


def test_a_change_with_a_session_needs_its_csrf_token(server: ServerHandle) -> None:
    rita = login(server, "rita")
    token = rita.headers.pop("X-CSRF-Token")
    session_id = rita.cookies["ig_session"]
    missing = rita.delete(f"{server.url}/api/session", timeout=5)
    forged = rita.delete(f"{server.url}/api/session", headers={"X-CSRF-Token": "0" * 64}, timeout=5)
    other = login(server, "rita").headers["X-CSRF-Token"]  # another session's token
    crossed = rita.delete(f"{server.url}/api/session", headers={"X-CSRF-Token": other}, timeout=5)
    for refused in (missing, forged, crossed):
        assert refused.status_code == 403
        assert "CSRF token missing or wrong" in refused.json()["error"]
    assert rita.get(f"{server.url}/api/stacks", timeout=5).status_code == 200  # still in

    logout = rita.delete(f"{server.url}/api/session", headers={"X-CSRF-Token": token}, timeout=5)
    assert logout.status_code == 200 and logout.json() == {"logged_out": True}
    assert 'ig_session=""' in logout.headers["Set-Cookie"]
    # The server ended it: the old cookie is refused even if a client kept it.
    replay = requests.get(f"{server.url}/api/stacks", cookies={"ig_session": session_id}, timeout=5)
    assert replay.status_code == 401


def test_api_tokens_work_until_revoked_or_expired(
    server: ServerHandle, auth_store: AuthStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    made = auth_store.tokens.create("rita", timedelta(hours=1), name="script")
    bearer = {"Authorization": f"Bearer {made.secret}"}
    assert stack_names(requests.get(f"{server.url}/api/stacks", headers=bearer, timeout=5))
    # No CSRF token needed with a bearer token (no browser adds that header by itself).
    assert requests.delete(f"{server.url}/api/session", headers=bearer, timeout=5).json() == {
        "logged_out": False
    }

    auth_store.tokens.revoke(made.info.id)
    revoked = requests.get(f"{server.url}/api/stacks", headers=bearer, timeout=5)
    expiring = auth_store.tokens.create("rita", timedelta(hours=1))
    _expire(auth_store, expiring.info.id)
    expired_bearer = {"Authorization": f"Bearer {expiring.secret}"}
    expired = requests.get(f"{server.url}/api/stacks", headers=expired_bearer, timeout=5)
    malformed = requests.get(
        f"{server.url}/api/stacks", headers={"Authorization": "Bearer igt_short"}, timeout=5
    )
    for refused in (revoked, expired, malformed):
        assert refused.status_code == 401
        assert refused.json() == {"error": "invalid API token: it is unknown, expired or revoked"}
        assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
    assert "refused (revoked)" in caplog.text and "refused (expired)" in caplog.text
    assert made.secret not in caplog.text and expiring.secret not in caplog.text


def _expire(store: AuthStore, token_id: str) -> None:
    """Move a token's expiry into the past, as time would (the store is SQLite here)."""
    with sqlite3.connect(store.where) as conn:
        conn.execute(
            "UPDATE auth_tokens SET expires_at = '2000-01-01T00:00:00+00:00' WHERE id = ?",
            (token_id,),
        )


def test_metrics_need_a_role_on_every_stack_unless_opened(
    server: ServerHandle, api: FakeDaemonApi, auth_store: AuthStore
) -> None:
    assert login(server, "rita").get(f"{server.url}/metrics", timeout=5).status_code == 200
    scoped = login(server, "olga").get(f"{server.url}/metrics", timeout=5)
    assert scoped.status_code == 403
    assert scoped.json() == {"error": "your role does not allow view on every stack"}
    with _serve(api, WebAuth(auth_store, metrics_open=True)) as open_metrics:
        assert requests.get(f"{open_metrics.url}/metrics", timeout=5).status_code == 200
        assert requests.get(f"{open_metrics.url}/api/stacks", timeout=5).status_code == 401


def test_behind_tls_the_cookie_is_secure_and_host_prefixed(
    api: FakeDaemonApi, auth_store: AuthStore
) -> None:
    with _serve(api, WebAuth(auth_store, secure_cookies=True)) as tls:
        answer = requests.post(
            f"{tls.url}/api/session", json={"name": "rita", "password": PASSWORD}, timeout=10
        )
        cookie = answer.headers["Set-Cookie"]
        assert cookie.startswith("__Host-ig_session=") and "Secure" in cookie
        session_id = cookie.split(";")[0].split("=", 1)[1]
        # requests keeps Secure cookies for https only: sent by hand, as the proxy would.
        cookie_header = {"Cookie": f"__Host-ig_session={session_id}"}
        stacks = requests.get(f"{tls.url}/api/stacks", headers=cookie_header, timeout=5)
        assert stack_names(stacks) == list(STACKS)


def test_with_authentication_off_everyone_is_an_anonymous_admin(api: FakeDaemonApi) -> None:
    with _serve(api, WebAuth(None)) as server:
        me = requests.get(f"{server.url}/api/session", timeout=5).json()
        assert (me["name"], me["via"], me["roles"]) == ("anonymous", "none", ["admin:*"])
        assert stack_names(requests.get(f"{server.url}/api/stacks", timeout=5)) == list(STACKS)
        login_off = requests.post(
            f"{server.url}/api/session", json={"name": "x", "password": "y"}, timeout=5
        )
        assert login_off.status_code == 404


def test_actions_need_the_role_on_that_stack_and_the_csrf_token(
    server: ServerHandle, api: FakeDaemonApi
) -> None:
    api.actions.clear()
    olga, rita = login(server, "olga"), login(server, "rita")
    synced = olga.post(f"{server.url}/api/stacks/app/sync", timeout=5)
    assert synced.status_code == 202 and synced.json()["action"] == "sync"
    assert api.actions == [("app", "sync", "olga")]

    outside = olga.post(f"{server.url}/api/stacks/network/heal", timeout=5)
    beyond_role = olga.post(f"{server.url}/api/stacks/app/rollback", timeout=5)
    readonly = rita.post(f"{server.url}/api/stacks/app/refresh", timeout=5)
    assert (outside.status_code, readonly.status_code) == (403, 403)
    assert outside.json() == {"error": "your role does not allow heal on network"}
    assert beyond_role.json() == {"error": "your role does not allow rollback on app"}
    unknown = olga.post(f"{server.url}/api/stacks/app/destroy", timeout=5)
    assert unknown.status_code == 404 and "sync, refresh, heal" in unknown.json()["error"]
    no_csrf = requests.post(f"{server.url}/api/stacks/app/sync", cookies=olga.cookies, timeout=5)
    assert no_csrf.status_code == 403
    assert api.actions == [("app", "sync", "olga")]  # nothing refused reached the daemon

    api.refuse_actions = "app: a deny window holds applies: no sync now"
    try:
        held = olga.post(f"{server.url}/api/stacks/app/sync", timeout=5)
    finally:
        api.refuse_actions = ""
    assert held.status_code == 409 and "deny window" in held.json()["error"]


def test_an_admin_pauses_at_once_and_a_rollback_names_its_commit(
    server: ServerHandle, api: FakeDaemonApi
) -> None:
    api.actions.clear()
    ada = login(server, "ada")
    paused = ada.post(f"{server.url}/api/stacks/network/pause", timeout=5)
    assert paused.status_code == 200 and paused.json()["done"] is True  # done, not queued
    rollback = f"{server.url}/api/stacks/network/rollback"
    assert ada.post(rollback, json=["abc"], timeout=5).status_code == 400
    assert ada.post(rollback, json={"commit": 7}, timeout=5).status_code == 400
    assert ada.post(rollback, data=b"x" * 5000, timeout=5).status_code == 400
    accepted = ada.post(rollback, json={"commit": "abc1234"}, timeout=5)
    assert accepted.status_code == 202
    assert api.actions == [("network", "pause", "ada"), ("network", "rollback", "ada")]


def test_a_flood_of_logins_queues_for_the_password_checks_then_gets_503(
    api: FakeDaemonApi, auth_store: AuthStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(SessionEndpoints, "max_checks", 1)
    monkeypatch.setattr(SessionEndpoints, "check_wait_s", 0.05)  # argon2 takes longer
    with _serve(api, WebAuth(auth_store)) as server:
        body = {"name": "rita", "password": PASSWORD}
        with ThreadPoolExecutor(4) as pool:
            answers = list(
                pool.map(
                    lambda _: requests.post(f"{server.url}/api/session", json=body, timeout=10),
                    range(4),
                )
            )
    statuses = sorted(a.status_code for a in answers)
    assert statuses[0] == 200 and statuses[-1] == 503
    busy = next(a for a in answers if a.status_code == 503)
    assert busy.headers["Retry-After"] == "1" and "too many logins" in busy.json()["error"]


def test_on_an_open_path_the_caller_holds_no_role() -> None:
    # Authenticate sets no principal on public paths: a handler there that checks a role
    # must be refused, never take the caller for an admin.
    request = Request({"type": "http", "method": "GET", "path": "/healthz", "headers": []})
    assert principal_of(request).grants == ()
    assert not allowed(request, Action.VIEW, "app") and not allowed(request, Action.VIEW, "*")
