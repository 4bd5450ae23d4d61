"""What the ASGI edge adds or must keep beyond the endpoints' answers: idle connections
freed, the authentication seam, the access log's escaping, trailing slashes; over real
HTTP on 127.0.0.1 in front of a stand-in core (FakeDaemonApi, see edge_helpers)."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator

import pytest
import requests
from edge_helpers import FakeDaemonApi

from infra_gitops.daemon.metrics import PrometheusMetrics
from infra_gitops.web.auth import WebAuth
from infra_gitops.web.limits import Limits
from infra_gitops.web.server import ServerHandle, serve

NO_AUTH = WebAuth(None)
"""Authentication off: these tests are about the edge itself (tests/web/ for auth)."""


@pytest.fixture
def api() -> FakeDaemonApi:
    return FakeDaemonApi()


@pytest.fixture
def server(api: FakeDaemonApi) -> Iterator[ServerHandle]:
    registry = PrometheusMetrics().registry
    with serve("127.0.0.1:0", api, registry, auth=NO_AUTH, webhook_secret=None) as handle:
        yield handle


def test_a_connection_that_never_sends_is_closed_and_frees_its_place(
    api: FakeDaemonApi,
) -> None:
    # uvicorn times out idle connections only after an answer: without our timer, one
    # that never sends a request would hold its place (and a flood of them, every place).
    limits = Limits(max_connections=1, idle_timeout_s=1.0)
    registry = PrometheusMetrics().registry
    with serve(
        "127.0.0.1:0", api, registry, auth=NO_AUTH, webhook_secret=None, limits=limits
    ) as server:
        idle = socket.create_connection((server.host, server.port), timeout=5)
        try:
            time.sleep(0.2)
            busy = requests.get(f"{server.url}/healthz", timeout=5)
            started = time.monotonic()
            closed_by_server = idle.recv(1) == b""
            waited = time.monotonic() - started
        finally:
            idle.close()
        time.sleep(0.1)
        served = requests.get(f"{server.url}/healthz", timeout=5)

    assert busy.status_code == 503
    assert closed_by_server and waited < 3.0
    assert served.status_code == 200


def test_a_trailing_slash_is_the_same_endpoint_not_a_redirect(server: ServerHandle) -> None:
    response = requests.get(f"{server.url}/healthz/", timeout=5, allow_redirects=False)
    assert response.status_code == 200
    assert response.json() == {"ok": True, "version": "test"}


def test_errors_have_one_json_shape(server: ServerHandle) -> None:
    missing = requests.get(f"{server.url}/nope", timeout=5)
    wrong = requests.delete(f"{server.url}/api/stacks", timeout=5)
    assert missing.json() == {"error": "no such endpoint: /nope"}
    assert wrong.status_code == 405
    assert wrong.json() == {"error": "/api/stacks takes GET, HEAD"}
    assert wrong.headers["Allow"] == "GET, HEAD"
    assert missing.headers["Cache-Control"] == "no-store"


def test_the_access_log_escapes_control_characters_in_the_path(
    server: ServerHandle, caplog: pytest.LogCaptureFixture
) -> None:
    forged = "2026-12-01T10:00:00.000+00:00 INFO infra_gitops.daemon.passes: applied"
    with caplog.at_level(logging.DEBUG, logger="infra_gitops.web"):
        response = requests.get(f"{server.url}/x%0A{forged.replace(' ', '%20')}", timeout=5)
        # The access line is written once the answer is sent, so the client may have it
        # first: wait for the line while the debug level is still on (else it is lost).
        deadline = time.monotonic() + 5
        while not _access_lines(caplog) and time.monotonic() < deadline:
            time.sleep(0.01)

    assert response.status_code == 404
    assert _access_lines(caplog) == [f"127.0.0.1 GET /x\\n{forged} 404"]


def _access_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if getattr(r, "event", "") == "http"]
