"""Single sign-on (OpenID Connect) through the daemon's real HTTP edge, against a stand-in
provider (oidc_standin: no real provider runs here). The browser is `requests`, following
each redirect by hand; the edge is serve() in process with a real auth store on SQLite,
then once the real `infra-gitops daemon` process."""

from __future__ import annotations

import logging
import os
import re
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
import yaml
from daemon_helpers import cli_argv, wait_for
from edge_helpers import FakeDaemonApi, a_view
from joserfc.jwk import RSAKey
from oidc_standin import CLIENT_ID, CLIENT_SECRET, StandInProvider, User, new_key, running
from prometheus_client import CollectorRegistry

from infra_gitops.auth.authconfig import load_auth_config
from infra_gitops.auth.errors import AuthError
from infra_gitops.auth.oidc import OidcClient
from infra_gitops.auth.store import AuthStore
from infra_gitops.cli import main
from infra_gitops.web.auth import COOKIE, WebAuth
from infra_gitops.web.oidc import PENDING_COOKIE
from infra_gitops.web.server import serve

EXTERNAL = "http://127.0.0.1:8080"
GROUP_ROLES = {"app-team": ["operator:app-*"], "auditors": ["readonly"]}


@pytest.fixture(scope="session")
def rsa_key() -> RSAKey:
    return new_key()


@pytest.fixture
def provider(rsa_key: RSAKey) -> Iterator[StandInProvider]:
    with running(rsa_key) as stand_in:
        stand_in.user = User("u-1", "alice", "alice@example.com", ["app-team", "ignored"])
        yield stand_in


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_config(tmp_path: Path, issuer: str, /, **oidc: object) -> Path:
    (tmp_path / "client-secret").write_text(CLIENT_SECRET + "\n")
    section = {
        "issuer": issuer,
        "client_id": CLIENT_ID,
        "client_secret_file": "client-secret",
        **oidc,
    }
    path = tmp_path / "auth.yaml"
    path.write_text(yaml.safe_dump({"oidc": section, "group_roles": GROUP_ROLES}))
    return path


@dataclass
class Edge:
    url: str
    provider: StandInProvider


@pytest.fixture
def edge(tmp_path: Path, provider: StandInProvider) -> Iterator[Edge]:
    url = f"http://127.0.0.1:{free_port()}"
    config = load_auth_config(write_config(tmp_path, provider.issuer), url)
    assert config.oidc is not None
    api = FakeDaemonApi(views=[a_view("app-1"), a_view("net-core")])
    with AuthStore.open(tmp_path / "state") as store:
        auth = WebAuth(store, oidc=OidcClient(config.oidc))
        listen = url.removeprefix("http://")
        with serve(listen, api, CollectorRegistry(), webhook_secret=None, auth=auth):
            yield Edge(url, provider)


def to_provider(browser: requests.Session, url: str, return_to: str | None = None) -> str:
    """Start a login; the callback URL the provider sends the browser back to."""
    query = f"?{urlencode({'return_to': return_to})}" if return_to is not None else ""
    login = browser.get(f"{url}/auth/oidc/login{query}", allow_redirects=False, timeout=10)
    assert login.status_code == 302, login.text
    assert PENDING_COOKIE in browser.cookies
    approved = browser.get(login.headers["Location"], allow_redirects=False, timeout=10)
    assert approved.status_code == 302, approved.text
    return approved.headers["Location"]


def log_in(browser: requests.Session, url: str, return_to: str | None = None) -> requests.Response:
    """A whole login; the callback's answer."""
    callback = to_provider(browser, url, return_to)
    return browser.get(callback, allow_redirects=False, timeout=10)


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
    return parts._replace(query=urlencode(query)).geturl()


def edge_log(caplog: pytest.LogCaptureFixture) -> str:
    """What the edge logged (the server's threads), not this test's own HTTP client."""
    me = threading.get_ident()
    return "\n".join(r.getMessage() + repr(r.__dict__) for r in caplog.records if r.thread != me)


def assert_no_secret_logged(caplog: pytest.LogCaptureFixture, provider: StandInProvider) -> None:
    logged = edge_log(caplog)
    assert logged, "nothing logged: the check below would prove nothing"
    for secret in [*provider.issued, CLIENT_SECRET]:
        assert secret not in logged


def test_login_gives_a_session_with_the_roles_of_the_users_groups(
    edge: Edge, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    browser = requests.Session()

    answer = log_in(browser, edge.url)

    assert answer.status_code == 302
    assert answer.headers["Location"] == "/"
    assert COOKIE in browser.cookies
    assert PENDING_COOKIE not in browser.cookies  # single use: cleared at the callback
    whoami = browser.get(f"{edge.url}/api/session", timeout=10).json()
    assert (whoami["name"], whoami["via"], whoami["roles"]) == ("alice", "oidc", ["operator:app-*"])
    stacks = browser.get(f"{edge.url}/api/stacks", timeout=10).json()
    assert [s["name"] for s in stacks] == ["app-1"]
    # PKCE: the code was redeemed with a verifier (the stand-in checked it).
    assert edge.provider.token_requests[-1]["code_verifier"]
    assert_no_secret_logged(caplog, edge.provider)


def test_the_name_falls_back_to_email_then_sub(edge: Edge) -> None:
    edge.provider.user = User("u-42", None, "bob@example.com", ["auditors"])
    browser = requests.Session()
    assert log_in(browser, edge.url).status_code == 302
    assert browser.get(f"{edge.url}/api/session", timeout=10).json()["name"] == "bob@example.com"

    edge.provider.user = User("u-43", None, None, ["auditors"])
    other = requests.Session()
    assert log_in(other, edge.url).status_code == 302
    assert other.get(f"{edge.url}/api/session", timeout=10).json()["name"] == "u-43"


def test_a_return_path_on_this_site_is_followed(edge: Edge) -> None:
    answer = log_in(requests.Session(), edge.url, return_to="/stacks/app-1?tab=runs")
    assert answer.headers["Location"] == "/stacks/app-1?tab=runs"


@pytest.mark.parametrize(
    "return_to", ["//evil.example", "https://evil.example/x", "/\\evil.example", "evil"]
)
def test_a_return_path_elsewhere_is_not_followed(edge: Edge, return_to: str) -> None:
    answer = log_in(requests.Session(), edge.url, return_to=return_to)
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/"


def test_a_wrong_state_is_refused(edge: Edge) -> None:
    browser = requests.Session()
    callback = to_provider(browser, edge.url)

    answer = browser.get(with_query(callback, state="forged"), allow_redirects=False, timeout=10)

    assert answer.status_code == 400
    assert "state does not match" in answer.json()["error"]
    assert COOKIE not in browser.cookies
    assert browser.get(f"{edge.url}/api/session", timeout=10).status_code == 401


def test_a_callback_without_the_login_cookie_is_refused(edge: Edge) -> None:
    callback = to_provider(requests.Session(), edge.url)
    answer = requests.get(callback, allow_redirects=False, timeout=10)  # another browser
    assert answer.status_code == 400
    assert "no login in progress" in answer.json()["error"]


def test_a_replayed_callback_is_refused(edge: Edge) -> None:
    browser = requests.Session()
    callback = to_provider(browser, edge.url)
    pending = browser.cookies[PENDING_COOKIE]
    assert browser.get(callback, allow_redirects=False, timeout=10).status_code == 302

    replay = requests.get(
        callback, cookies={PENDING_COOKIE: pending}, allow_redirects=False, timeout=10
    )

    assert replay.status_code == 400
    assert "already used" in replay.json()["error"]


@pytest.mark.parametrize(
    ("breakage", "complaint"),
    [
        ({"bad_signature": True}, "does not verify"),
        ({"id_token_claims": {"aud": "someone-else"}}, "aud"),
        ({"id_token_claims": {"nonce": "not-the-one-sent"}}, "nonce"),
        ({"id_token_claims": {"iss": "http://127.0.0.1:1/elsewhere"}}, "iss"),
        ({"id_token_claims": {"exp": 1_000_000_000}}, "expired"),
    ],
    ids=["bad-signature", "wrong-audience", "wrong-nonce", "wrong-issuer", "expired"],
)
def test_an_id_token_that_does_not_verify_is_refused(
    edge: Edge, caplog: pytest.LogCaptureFixture, breakage: dict[str, object], complaint: str
) -> None:
    caplog.set_level(logging.DEBUG)
    for knob, value in breakage.items():
        setattr(edge.provider, knob, value)
    browser = requests.Session()

    answer = log_in(browser, edge.url)

    assert answer.status_code == 401
    assert "the ID token does not verify" in answer.json()["error"]
    assert complaint in answer.json()["error"]
    assert COOKIE not in browser.cookies
    assert "sso_refused" in edge_log(caplog)
    assert_no_secret_logged(caplog, edge.provider)


def test_a_code_is_redeemed_only_with_its_pkce_verifier(
    edge: Edge, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # The stand-in refuses a code without the verifier (as a real provider must)...
    stolen = parse_qs(urlsplit(to_provider(requests.Session(), edge.url)).query)["code"][0]
    bare = requests.post(
        f"{edge.provider.url}/token",
        data={"grant_type": "authorization_code", "code": stolen},
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=10,
    )
    assert bare.status_code == 400
    # ...and a code of another login, slipped into this one's callback, fails the PKCE
    # check: the edge redeems it with this login's verifier.
    other_code = parse_qs(urlsplit(to_provider(requests.Session(), edge.url)).query)["code"][0]
    browser = requests.Session()
    callback = to_provider(browser, edge.url)

    answer = browser.get(with_query(callback, code=other_code), allow_redirects=False, timeout=10)

    assert answer.status_code == 401
    assert "token endpoint refused the code: invalid_grant" in answer.json()["error"]
    assert COOKIE not in browser.cookies
    assert_no_secret_logged(caplog, edge.provider)


def test_a_user_of_no_mapped_group_is_refused(edge: Edge) -> None:
    edge.provider.user = User("u-9", "mallory", None, ["interns"])
    browser = requests.Session()

    answer = log_in(browser, edge.url)

    assert answer.status_code == 401
    assert "none of their groups (interns) is given a role" in answer.json()["error"]
    assert COOKIE not in browser.cookies


def test_the_provider_refusing_is_401(edge: Edge) -> None:
    browser = requests.Session()
    callback = to_provider(browser, edge.url)
    refused = with_query(callback, error="access_denied")
    answer = browser.get(refused, allow_redirects=False, timeout=10)
    assert answer.status_code == 401
    assert "access_denied" in answer.json()["error"]


def test_without_single_sign_on_the_routes_are_404(tmp_path: Path) -> None:
    with (
        AuthStore.open(tmp_path / "state") as store,
        serve(
            "127.0.0.1:0",
            FakeDaemonApi(),
            CollectorRegistry(),
            webhook_secret=None,
            auth=WebAuth(store),
        ) as server,
    ):
        for path in ("/auth/oidc/login", "/auth/oidc/callback?code=x&state=y"):
            answer = requests.get(f"{server.url}{path}", allow_redirects=False, timeout=10)
            assert answer.status_code == 404
            assert answer.json() == {"error": "single sign-on is not configured"}


# ------------------------------------------------------------------ the daemon's CLI


def test_the_daemon_logs_in_by_single_sign_on(tmp_path: Path, provider: StandInProvider) -> None:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    port = free_port()
    config = write_config(tmp_path, provider.issuer)
    argv = [
        *cli_argv(),
        "daemon",
        "--repo",
        str(remote),
        "--state-dir",
        str(tmp_path / "state"),
        "--listen",
        f"127.0.0.1:{port}",
        "--auth-config",
        str(config),
        "--external-url",
        f"http://127.0.0.1:{port}",
    ]
    log_file = tmp_path / "daemon.log"
    with open(log_file, "wb") as log:
        daemon = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:

        def listening() -> bool:
            assert daemon.poll() is None, log_file.read_text()
            return bool(re.search(r"serving on http://", log_file.read_text()))

        wait_for("the daemon to listen", listening, timeout=30)
        browser = requests.Session()
        assert log_in(browser, f"http://127.0.0.1:{port}").status_code == 302
        whoami = browser.get(f"http://127.0.0.1:{port}/api/session", timeout=10).json()
        assert (whoami["name"], whoami["via"]) == ("alice", "oidc")
    finally:
        daemon.terminate()
        code = daemon.wait(timeout=30)
    assert code == 0
    logged = log_file.read_text()
    assert "alice logged in by single sign-on" in logged
    for secret in [*provider.issued, CLIENT_SECRET]:
        assert secret not in logged


@pytest.mark.parametrize(
    ("oidc", "external_url", "complaint"),
    [
        ({}, None, "oidc: single sign-on needs --external-url"),
        ({"client_secret": "inline"}, "http://127.0.0.1:8080", "oidc: unknown key 'client_secret'"),
        (
            {"issuer": "http://idp.example"},
            "http://127.0.0.1:8080",
            "oidc.issuer: expected an https",
        ),
        ({"scopes": ["profile"]}, "http://127.0.0.1:8080", "oidc.scopes: must include openid"),
    ],
    ids=["no-external-url", "unknown-key", "plain-http-issuer", "no-openid-scope"],
)
def test_a_bad_auth_config_stops_the_daemon_naming_file_and_key(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    oidc: dict[str, object],
    external_url: str | None,
    complaint: str,
) -> None:
    config = write_config(tmp_path, "https://idp.example", **oidc)
    argv = ["daemon", "--repo", str(tmp_path / "none.git"), "--state-dir", str(tmp_path / "s")]
    argv += ["--auth-config", str(config)]
    argv += ["--external-url", external_url] if external_url else []

    code = main(argv)

    assert code == 1
    error = capsys.readouterr().err
    assert f"{config}: {complaint}" in error
    assert CLIENT_SECRET not in error
    assert not (tmp_path / "s").exists()  # nothing started


def test_the_client_secret_may_come_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "auth.yaml"
    path.write_text("oidc:\n  issuer: https://idp.example\n  client_id: x\n")
    env = {**os.environ, "INFRA_GITOPS_OIDC_CLIENT_SECRET": "from-env"}
    config = load_auth_config(path, "https://gitops.example", env)
    assert config.oidc is not None
    assert config.oidc.client_secret == "from-env"
    assert config.oidc.redirect_uri == "https://gitops.example/auth/oidc/callback"
    assert "from-env" not in repr(config)
    with pytest.raises(AuthError, match="no client secret"):
        load_auth_config(path, "https://gitops.example", {})


def test_the_login_page_offers_single_sign_on_back_to_the_page_asked_for(edge: Edge) -> None:
    page = requests.get(f"{edge.url}/login?next=/stacks/app-1", timeout=10)
    assert page.status_code == 200
    assert 'href="/auth/oidc/login?return_to=/stacks/app-1"' in page.text
    browser = requests.Session()
    provider = browser.get(
        f"{edge.url}/auth/oidc/login?return_to=/stacks/app-1", allow_redirects=False, timeout=10
    )
    assert provider.headers["Location"].startswith(edge.provider.url)
