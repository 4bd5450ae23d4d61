"""The daemon's HTTP server over real HTTP on 127.0.0.1, in front of a stand-in core
(FakeDaemonApi: the DaemonApi seam, see edge_helpers)."""

from __future__ import annotations

import http.client
import json
import logging
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
import requests
from edge_helpers import FakeDaemonApi, a_view
from prometheus_client.parser import text_string_to_metric_families

from infra_gitops.daemon.contracts import SyncStatus
from infra_gitops.daemon.metrics import PrometheusMetrics
from infra_gitops.errors import GitOpsError
from infra_gitops.web.auth import WebAuth
from infra_gitops.web.limits import MAX_BODY_BYTES, SOCKET_TIMEOUT_S, Limits
from infra_gitops.web.server import ServerHandle, serve
from infra_gitops.web.webhook import sign

SECRET = b"hook-secret-\xe2\x9c\x93-0123456789"
SHA = "4b1c0a7d9e2f4b1c0a7d9e2f4b1c0a7d9e2f4b1c"
PUSH = json.dumps({"ref": "refs/heads/main", "after": SHA, "pusher": {"name": "alice"}}).encode()

NO_AUTH = WebAuth(None)
"""Authentication off: these tests are about the edge itself (tests/web/ for auth)."""


@pytest.fixture
def api() -> FakeDaemonApi:
    return FakeDaemonApi()


@pytest.fixture
def metrics() -> PrometheusMetrics:
    return PrometheusMetrics()


@pytest.fixture
def server(api: FakeDaemonApi, metrics: PrometheusMetrics) -> Iterator[ServerHandle]:
    with serve("127.0.0.1:0", api, metrics.registry, auth=NO_AUTH, webhook_secret=SECRET) as handle:
        yield handle


def post_push(
    server: ServerHandle, body: bytes, signature: str | None, **headers: str
) -> requests.Response:
    sent = {"X-GitHub-Event": "push", "Content-Type": "application/json", **headers}
    if signature is not None:
        sent["X-Hub-Signature-256"] = signature
    return requests.post(f"{server.url}/webhook", data=body, headers=sent, timeout=5)


def test_port_zero_binds_a_free_port(server: ServerHandle) -> None:
    assert server.port > 0
    assert server.address == f"127.0.0.1:{server.port}"


def test_healthz_returns_the_core_health(server: ServerHandle) -> None:
    response = requests.get(f"{server.url}/healthz", timeout=5)
    assert response.status_code == 200
    assert response.json() == {"ok": True, "version": "test"}


def test_readyz_200_when_fresh_and_503_when_stale(server: ServerHandle, api: FakeDaemonApi) -> None:
    fresh = requests.get(f"{server.url}/readyz", timeout=5)
    assert fresh.status_code == 200
    assert fresh.json()["ready"] is True
    assert fresh.json()["last_fetch_age_s"] == 3.0

    api.ready, api.fetch_age_s = False, 900.0
    stale = requests.get(f"{server.url}/readyz", timeout=5)
    assert stale.status_code == 503
    assert stale.json() == {"ready": False, "last_fetch_age_s": 900.0, "max_fetch_age_s": 180}


def test_good_signature_triggers_one_reconcile(server: ServerHandle, api: FakeDaemonApi) -> None:
    response = post_push(server, PUSH, sign(SECRET, PUSH))
    assert response.status_code == 202
    assert api.triggers == [f"webhook: push {SHA} by alice"]


def test_legacy_form_encoded_push_is_accepted(server: ServerHandle, api: FakeDaemonApi) -> None:
    body = urlencode({"payload": PUSH.decode()}).encode()
    response = post_push(
        server, body, sign(SECRET, body), **{"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 202
    assert api.triggers == [f"webhook: push {SHA} by alice"]


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        "sha256=" + "0" * 64,
        sign(b"another-secret", PUSH),
        sign(SECRET, PUSH).replace("sha256=", "sha1="),
        sign(SECRET, PUSH + b" "),
    ],
    ids=["missing", "empty", "zeros", "other-secret", "wrong-algorithm", "other-body"],
)
def test_bad_or_missing_signature_is_401_and_runs_nothing(
    server: ServerHandle, api: FakeDaemonApi, signature: str | None
) -> None:
    response = post_push(server, PUSH, signature)
    assert response.status_code == 401
    assert api.triggers == []


def test_ping_is_200_and_other_events_202_without_a_run(
    server: ServerHandle, api: FakeDaemonApi
) -> None:
    body = b'{"zen": "Keep it logically awesome."}'
    ping = post_push(server, body, sign(SECRET, body), **{"X-GitHub-Event": "ping"})
    issues = post_push(server, body, sign(SECRET, body), **{"X-GitHub-Event": "issues"})
    assert ping.status_code == 200
    assert issues.status_code == 202
    assert issues.json()["ignored"] is True
    assert api.triggers == []


def test_signed_garbage_push_is_400(server: ServerHandle, api: FakeDaemonApi) -> None:
    body = b"not json at all"
    assert post_push(server, body, sign(SECRET, body)).status_code == 400
    assert api.triggers == []


def test_webhook_disabled_without_a_secret(api: FakeDaemonApi, metrics: PrometheusMetrics) -> None:
    with serve("127.0.0.1:0", api, metrics.registry, auth=NO_AUTH, webhook_secret=None) as server:
        response = post_push(server, PUSH, sign(b"", PUSH))
    assert response.status_code == 404
    assert "webhook disabled" in response.json()["error"]
    assert api.triggers == []


def test_oversized_body_is_413_and_runs_nothing(server: ServerHandle, api: FakeDaemonApi) -> None:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=5)
    connection.putrequest("POST", "/webhook")
    connection.putheader("X-GitHub-Event", "push")
    connection.putheader("Content-Length", str(MAX_BODY_BYTES + 1))
    connection.endheaders()  # and no body: the server must answer without reading it
    response = connection.getresponse()
    assert response.status == 413
    connection.close()
    assert api.triggers == []


def test_missing_content_length_is_411(server: ServerHandle, api: FakeDaemonApi) -> None:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=5)
    connection.putrequest("POST", "/webhook")
    connection.putheader("X-GitHub-Event", "push")
    connection.putheader("X-Hub-Signature-256", sign(SECRET, b""))
    connection.endheaders()
    assert connection.getresponse().status == 411
    connection.close()
    assert api.triggers == []


@pytest.mark.parametrize(
    ("framing", "status"),
    [
        # Two lengths and a non-ASCII length are invalid framing: HTTP's parser (h11)
        # answers 400 and closes before the endpoint sees them, as RFC 9112 section 6.3
        # requires. A transfer encoding reaches the endpoint, which wants a length (411).
        ([("Content-Length", str(len(PUSH))), ("Content-Length", "5")], 400),
        ([("Transfer-Encoding", "chunked"), ("Content-Length", str(len(PUSH)))], 411),
        ([("Content-Length", "\N{SUPERSCRIPT TWO}".encode().decode("latin-1"))], 400),
    ],
    ids=["two-lengths", "chunked", "non-ascii-digit"],
)
def test_a_body_without_one_plain_length_is_refused(
    server: ServerHandle, api: FakeDaemonApi, framing: list[tuple[str, str]], status: int
) -> None:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=5)
    connection.putrequest("POST", "/webhook", skip_accept_encoding=True)
    connection.putheader("X-GitHub-Event", "push")
    connection.putheader("X-Hub-Signature-256", sign(SECRET, PUSH))
    for name, value in framing:
        connection.putheader(name, value)
    connection.endheaders(PUSH)

    assert connection.getresponse().status == status
    connection.close()
    assert api.triggers == []


def test_metrics_exposition_parses(server: ServerHandle, metrics: PrometheusMetrics) -> None:
    metrics.stacks_declared(2)
    metrics.stack_status(stack="storage", status=SyncStatus.DRIFTED)
    response = requests.get(f"{server.url}/metrics", timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    assert families["infra_gitops_stacks_declared"].samples[0].value == 2
    assert families["infra_gitops_stacks_drifted"].samples[0].value == 1


def test_api_stacks_lists_the_views(server: ServerHandle, api: FakeDaemonApi) -> None:
    api.views = [a_view("storage"), a_view("app", SyncStatus.DRIFTED)]
    response = requests.get(f"{server.url}/api/stacks", timeout=5)
    assert response.status_code == 200
    body = response.json()
    assert [(v["name"], v["status"]) for v in body] == [("storage", "Synced"), ("app", "Drifted")]
    assert body[0]["applied_commit"] == "a" * 40


def test_unknown_path_404_and_wrong_method_405(server: ServerHandle) -> None:
    assert requests.get(f"{server.url}/nope", timeout=5).status_code == 404
    wrong = requests.get(f"{server.url}/webhook", timeout=5)
    assert wrong.status_code == 405
    assert wrong.headers["Allow"] == "POST"


def test_an_error_in_the_core_is_500_without_a_traceback(
    server: ServerHandle, api: FakeDaemonApi, caplog: pytest.LogCaptureFixture
) -> None:
    api.fail_health = True
    with caplog.at_level(logging.ERROR):
        response = requests.get(f"{server.url}/healthz", timeout=5)
    assert response.status_code == 500
    assert response.json() == {"error": "internal error"}
    assert "Traceback" not in response.text and "boom" not in response.text
    assert "boom" in caplog.text  # but the operator finds it in the log


def test_the_secret_and_signature_never_reach_the_log(
    server: ServerHandle, caplog: pytest.LogCaptureFixture
) -> None:
    signature = sign(SECRET, PUSH)
    with caplog.at_level(logging.DEBUG, logger="infra_gitops"):
        post_push(server, PUSH, signature)
        post_push(server, PUSH, "sha256=" + "1" * 64)
    assert "webhook rejected" in caplog.text
    assert signature not in caplog.text and "1" * 64 not in caplog.text
    assert SECRET.decode() not in caplog.text


def test_listen_must_be_host_port(api: FakeDaemonApi, metrics: PrometheusMetrics) -> None:
    with pytest.raises(GitOpsError, match="expected HOST:PORT"):
        serve("8080", api, metrics.registry, auth=NO_AUTH, webhook_secret=None)


def test_a_taken_port_is_a_clear_error(
    server: ServerHandle, api: FakeDaemonApi, metrics: PrometheusMetrics
) -> None:
    with pytest.raises(GitOpsError, match="cannot listen there"):
        serve(server.address, api, metrics.registry, auth=NO_AUTH, webhook_secret=None)


def test_close_stops_serving(api: FakeDaemonApi, metrics: PrometheusMetrics) -> None:
    server = serve("127.0.0.1:0", api, metrics.registry, auth=NO_AUTH, webhook_secret=None)
    server.close()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{server.url}/healthz", timeout=2)


# ---------------------------------------------------------------- abuse


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000 + b"]" * 100_000, b'{"after": ' + b'{"a": ' * 50_000 + b"1" + b"}" * 50_001],
    ids=["arrays", "objects"],
)
def test_deeply_nested_json_is_400_not_500(
    server: ServerHandle, api: FakeDaemonApi, body: bytes
) -> None:
    response = post_push(server, body, sign(SECRET, body))

    assert response.status_code == 400
    assert response.json() == {"error": "push payload is not JSON"}
    assert api.triggers == []


def test_an_oversized_body_being_sent_gets_413_not_a_reset(
    server: ServerHandle, api: FakeDaemonApi
) -> None:
    # The server answers before reading the body, then reads and drops the rest
    # (never keeping it) so that closing does not reset the client mid-send.
    body = b"x" * (MAX_BODY_BYTES + 1)

    response = post_push(server, body, sign(SECRET, body))

    assert response.status_code == 413
    assert api.triggers == []


def test_a_body_that_does_not_arrive_in_time_is_408(
    api: FakeDaemonApi, metrics: PrometheusMetrics
) -> None:
    limits = Limits(body_deadline_s=0.5)
    with serve(
        "127.0.0.1:0", api, metrics.registry, auth=NO_AUTH, webhook_secret=SECRET, limits=limits
    ) as server:
        connection = started_post(server, content_length=len(PUSH), sent=PUSH[:10])
        started = time.monotonic()
        response = connection.getresponse()

    assert response.status == 408
    # The deadline, not the socket's 15 s per read, ended it.
    assert time.monotonic() - started < SOCKET_TIMEOUT_S / 2
    assert api.triggers == []


def test_bodies_past_the_limit_wait_for_a_slot_then_get_503(
    api: FakeDaemonApi, metrics: PrometheusMetrics
) -> None:
    limits = Limits(max_bodies_in_flight=2, body_slot_wait_s=0.3)
    with serve(
        "127.0.0.1:0", api, metrics.registry, auth=NO_AUTH, webhook_secret=SECRET, limits=limits
    ) as server:
        # Two clients that announce a body and send a little: each holds a slot.
        holders = [started_post(server, content_length=1000, sent=b"{") for _ in range(2)]
        time.sleep(0.3)  # both accepted and reading

        busy = post_push(server, PUSH, sign(SECRET, PUSH))
        for holder in holders:
            holder.close()
        time.sleep(0.3)  # their slots are freed as their reads fail
        after = post_push(server, PUSH, sign(SECRET, PUSH))

    assert busy.status_code == 503
    assert busy.headers["Retry-After"] == "1"
    assert after.status_code == 202
    assert len(api.triggers) == 1


def test_connections_past_the_limit_get_503_at_once(
    api: FakeDaemonApi, metrics: PrometheusMetrics
) -> None:
    limits = Limits(max_connections=2)
    with serve(
        "127.0.0.1:0", api, metrics.registry, auth=NO_AUTH, webhook_secret=SECRET, limits=limits
    ) as server:
        idle = [socket.create_connection((server.host, server.port)) for _ in range(2)]
        try:
            started = time.monotonic()
            refused = requests.get(f"{server.url}/healthz", timeout=5)
            waited = time.monotonic() - started
        finally:
            for sock in idle:
                sock.close()
        time.sleep(0.3)  # the idle connections' threads see them closed
        served = requests.get(f"{server.url}/healthz", timeout=5)

    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "1"
    assert waited < 2.0
    assert served.status_code == 200


def test_keep_alive_requests_are_not_held_back_by_nagle(server: ServerHandle) -> None:
    # With Nagle's algorithm, each answer's body (a second small write) waits for the
    # client's delayed ACK: about 40 ms per request on Linux.
    connection = http.client.HTTPConnection(server.host, server.port, timeout=5)
    connection.request("GET", "/healthz")
    connection.getresponse().read()

    started = time.monotonic()
    for _ in range(25):
        connection.request("GET", "/healthz")
        assert connection.getresponse().read()
    elapsed = time.monotonic() - started
    connection.close()

    assert elapsed < 0.6  # 25 x 40 ms = 1 s with Nagle


def started_post(
    server: ServerHandle, *, content_length: int, sent: bytes
) -> http.client.HTTPConnection:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
    connection.putrequest("POST", "/webhook")
    connection.putheader("X-GitHub-Event", "push")
    connection.putheader("Content-Length", str(content_length))
    connection.endheaders()
    connection.send(sent)
    return connection
