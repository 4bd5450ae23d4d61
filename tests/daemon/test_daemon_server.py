"""The daemon's HTTP server over real HTTP on 127.0.0.1, in front of a stand-in core
(FakeDaemonApi: the DaemonApi seam, see edge_helpers)."""

from __future__ import annotations

import http.client
import json
import logging
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
import requests
from edge_helpers import FakeDaemonApi, a_view
from prometheus_client.parser import text_string_to_metric_families

from infra_gitops.daemon.contracts import SyncStatus
from infra_gitops.daemon.metrics import PrometheusMetrics
from infra_gitops.daemon.server import MAX_BODY_BYTES, ServerHandle, serve, sign
from infra_gitops.errors import GitOpsError

SECRET = b"hook-secret-\xe2\x9c\x93-0123456789"
SHA = "4b1c0a7d9e2f4b1c0a7d9e2f4b1c0a7d9e2f4b1c"
PUSH = json.dumps({"ref": "refs/heads/main", "after": SHA, "pusher": {"name": "alice"}}).encode()


@pytest.fixture
def api() -> FakeDaemonApi:
    return FakeDaemonApi()


@pytest.fixture
def metrics() -> PrometheusMetrics:
    return PrometheusMetrics()


@pytest.fixture
def server(api: FakeDaemonApi, metrics: PrometheusMetrics) -> Iterator[ServerHandle]:
    with serve("127.0.0.1:0", api, metrics.registry, webhook_secret=SECRET) as handle:
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
    with serve("127.0.0.1:0", api, metrics.registry, webhook_secret=None) as server:
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
        serve("8080", api, metrics.registry, webhook_secret=None)


def test_a_taken_port_is_a_clear_error(
    server: ServerHandle, api: FakeDaemonApi, metrics: PrometheusMetrics
) -> None:
    with pytest.raises(GitOpsError, match="cannot listen there"):
        serve(server.address, api, metrics.registry, webhook_secret=None)


def test_close_stops_serving(api: FakeDaemonApi, metrics: PrometheusMetrics) -> None:
    server = serve("127.0.0.1:0", api, metrics.registry, webhook_secret=None)
    server.close()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{server.url}/healthz", timeout=2)
