"""The web UI's pages and read API on the real edge (serve(), real HTTP, a real auth
store), in front of a stand-in core (FakeDaemonApi, tests/daemon/edge_helpers.py): who
gets a page or the login, the pages' security headers and escaping, the read endpoints'
answers, refusals and documented shapes, and a run's log as server-sent events."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator

import pytest
import requests
from edge_helpers import FakeDaemonApi, a_view
from web_helpers import PASSWORD, a_run, conforms

from infra_gitops.auth.store import AuthStore
from infra_gitops.daemon.metrics import PrometheusMetrics
from infra_gitops.models import (
    SENSITIVE_MARKER,
    UNKNOWN_MARKER,
    RunStatus,
)
from infra_gitops.web.auth import WebAuth
from infra_gitops.web.server import ServerHandle, serve

HOSTILE = '<img src=x onerror="alert(1)">'


@pytest.fixture(scope="module")
def api() -> FakeDaemonApi:
    return FakeDaemonApi(
        views=[a_view("app"), a_view("network"), a_view(HOSTILE)],
        edges={"app": ("network",), HOSTILE: ("app",)},
        runs=[a_run("r-app", "app"), a_run("r-net", "network")],
        logs={"r-app": b"init\nplan\n", "r-net": b"secret-free line"},
    )


@pytest.fixture(scope="module")
def server(api: FakeDaemonApi, auth_store: AuthStore) -> Iterator[ServerHandle]:
    registry = PrometheusMetrics().registry
    with serve("127.0.0.1:0", api, registry, webhook_secret=None, auth=WebAuth(auth_store)) as s:
        yield s


def login(server: ServerHandle, name: str) -> requests.Session:
    client = requests.Session()
    answer = client.post(
        f"{server.url}/api/session", json={"name": name, "password": PASSWORD}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    return client


def test_a_page_without_a_session_goes_to_the_login_and_the_api_answers_401(
    server: ServerHandle,
) -> None:
    for page in ("/", "/stacks/app", "/runs/r-app"):
        answer = requests.get(server.url + page, timeout=5, allow_redirects=False)
        assert answer.status_code == 302, page
        assert answer.headers["location"] == f"/login?next={page}"
    for path in ("/api/stacks/app", "/api/runs/r-app", "/api/graph", "/api/runs/r-app/log"):
        answer = requests.get(server.url + path, timeout=5, allow_redirects=False)
        assert answer.status_code == 401, path
        assert answer.json() == {"error": "log in first: no live session or API token"}
    login_page = requests.get(server.url + "/login", timeout=5)
    assert login_page.status_code == 200 and '<form id="login"' in login_page.text
    assert requests.get(server.url + "/static/app.js", timeout=5).status_code == 200


def test_pages_forbid_inline_script_and_framing_and_escape_what_they_show(
    server: ServerHandle,
) -> None:
    client = login(server, "ada")
    page = client.get(f"{server.url}/stacks/{requests.utils.quote(HOSTILE, safe='')}", timeout=5)
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "same-origin"
    assert HOSTILE not in page.text
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page.text


def test_the_buttons_follow_the_roles(server: ServerHandle) -> None:
    def buttons(name: str, stack: str) -> str:
        text = login(server, name).get(f"{server.url}/stacks/{stack}", timeout=5).text
        return " ".join(
            a
            for a in ("sync", "refresh", "heal", "pause", "resume", "rollback")
            if f'data-action="{a}"' in text
            or (a == "rollback" and 'data-can-rollback="yes"' in text)
        )

    assert buttons("ada", "app") == "sync refresh heal pause resume rollback"
    assert buttons("olga", "app") == "sync refresh heal"  # operator:app*
    assert buttons("olga", "network") == ""
    assert buttons("rita", "app") == ""


def test_the_read_endpoints_answer_by_role_and_as_documented(server: ServerHandle) -> None:
    ada, olga = login(server, "ada"), login(server, "olga")
    stack = ada.get(f"{server.url}/api/stacks/app", timeout=5)
    assert stack.status_code == 200
    conforms(stack.json(), "StackDetail")
    assert stack.json()["depends_on"] == ["network"]

    run = ada.get(f"{server.url}/api/runs/r-app", timeout=5).json()
    conforms(run, "Run")
    assert run["drift"][0]["values"] == [
        {"path": "tags.environment", "before": '"dev"', "after": '"by-hand"'},
        {"path": "password", "before": SENSITIVE_MARKER, "after": SENSITIVE_MARKER},
        {"path": "arn", "before": '"a"', "after": UNKNOWN_MARKER},
    ]
    history = ada.get(f"{server.url}/api/stacks/app/runs?limit=5", timeout=5).json()
    for row in history:
        conforms(row, "RunSummary")
    assert [r["id"] for r in history] == ["r-app"] and "drift" not in history[0]
    assert ada.get(f"{server.url}/api/stacks/app/runs?limit=0", timeout=5).status_code == 400

    graph = ada.get(f"{server.url}/api/graph", timeout=5).json()
    conforms(graph, "Graph")
    assert {(e["stack"], e["depends_on"]) for e in graph["edges"]} == {
        ("app", "network"),
        (HOSTILE, "app"),
    }
    # olga (operator:app*) sees app only: no node, edge, stack, run or log of the rest.
    assert olga.get(f"{server.url}/api/graph", timeout=5).json() == {
        "nodes": [{"name": "app", "status": "Synced"}],
        "edges": [],
    }
    for path in (
        "/api/stacks/network",
        "/api/stacks/network/runs",
        "/api/runs/r-net",
        "/api/runs/r-net/log",
    ):
        assert olga.get(server.url + path, timeout=5).status_code == 403, path
    for path in (
        "/api/stacks/nope",
        "/api/stacks/nope/runs",
        "/api/runs/nope",
        "/api/runs/nope/log",
    ):
        answer = ada.get(server.url + path, timeout=5)
        assert answer.status_code == 404, path
        conforms(answer.json(), "Error")


def events_of(answer: requests.Response) -> Iterator[tuple[str, str, str]]:
    """(event, data, id) of each server-sent event."""
    event: dict[str, str] = {}
    for line in answer.iter_lines(decode_unicode=True):
        if line:
            field, _, value = line.partition(": ")
            event[field] = value
            continue
        yield event.get("event", "message"), event.get("data", ""), event.get("id", "")
        event = {}


def test_a_run_log_streams_lines_as_they_are_written_then_its_end(
    server: ServerHandle, api: FakeDaemonApi
) -> None:
    ada = login(server, "ada")
    finished = ada.get(f"{server.url}/api/runs/r-net/log", timeout=10, stream=True)
    assert finished.headers["content-type"].startswith("text/event-stream")
    assert list(events_of(finished)) == [
        ("message", "secret-free line", "16"),
        ("end", '{"status": "drifted"}', ""),
    ]

    running = a_run("r-live", "app", RunStatus.RUNNING)
    api.runs.insert(0, running)
    api.logs["r-live"] = b"first\n"

    def write_on() -> None:
        time.sleep(1.2)
        api.logs["r-live"] += b"second\nthi"
        time.sleep(0.8)
        api.logs["r-live"] += b"rd\n"
        api.runs[0] = dataclasses.replace(running, status=RunStatus.APPLIED)

    writer = threading.Thread(target=write_on)
    writer.start()
    started = time.monotonic()
    seen = []
    with ada.get(f"{server.url}/api/runs/r-live/log", timeout=10, stream=True) as live:
        for event in events_of(live):
            seen.append((event, round(time.monotonic() - started, 1)))
    writer.join()
    assert [e for e, _ in seen] == [
        ("message", "first", "6"),
        ("message", "second", "13"),
        ("message", "third", "19"),
        ("end", '{"status": "applied"}', ""),
    ]
    assert seen[0][1] < 1.0 < seen[1][1]  # the first line came before the rest was written
    # An EventSource reconnecting with Last-Event-ID goes on from there.
    resumed = ada.get(
        f"{server.url}/api/runs/r-live/log", headers={"Last-Event-ID": "13"}, timeout=10
    )
    assert resumed.text.startswith("data: third\nid: 19\n\n")
