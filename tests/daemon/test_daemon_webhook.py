"""The push webhook against a real daemon process: a good signature reconciles at once,
a bad or missing one gets 401 and runs nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from daemon_helpers import World, wait_for

pytestmark = pytest.mark.e2e

SECRET = b"webhook-secret-for-the-test"


def _post(url: str, body: bytes, signature: str | None) -> int:
    headers = {"Content-Type": "application/json", "X-GitHub-Event": "push"}
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_signed_push_webhook_reconciles_now_and_a_bad_signature_runs_nothing(
    world: World,
) -> None:
    world.env["INFRA_GITOPS_WEBHOOK_SECRET"] = SECRET.decode()
    first = world.commit_and_push("Declare storage and app")
    # Polling so rare that after the start-up pass only the webhook can start one.
    daemon = world.start_daemon("--poll-interval", "3600")
    wait_for("the start-up pass applied", lambda: world.synced_at(first, "storage", "app"))

    world.edit(
        "stacks/app/main.tf", 'stack       = "app"', 'stack       = "app"\n    team        = "web"'
    )
    second = world.commit_and_push("Tag the app's parameters")
    body = json.dumps(
        {"ref": "refs/heads/main", "after": second, "pusher": {"name": "alice"}}
    ).encode()
    hook = daemon.url + "/webhook"

    assert _post(hook, body, "sha256=" + "0" * 64) == 401
    assert _post(hook, body, None) == 401
    forged = hmac.new(b"not-the-secret", body, hashlib.sha256).hexdigest()
    assert _post(hook, body, "sha256=" + forged) == 401
    time.sleep(3)  # what a bad signature would have started, had it started anything
    assert world.runs(commit=second) == []

    good = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    assert _post(hook, body, good) == 202
    wait_for("the pushed commit applied", lambda: world.synced_at(second, "app"))
    assert {(r.stack, r.trigger) for r in world.runs(commit=second)} == {("app", "webhook")}
    assert SECRET.decode() not in daemon.log


def test_a_burst_of_100_signed_deliveries_is_answered_and_forges_no_log_line(
    world: World,
) -> None:
    world.env["INFRA_GITOPS_WEBHOOK_SECRET"] = SECRET.decode()
    sha = world.commit_and_push("Declare storage and app")
    daemon = world.start_daemon("--poll-interval", "3600")
    hook = daemon.url + "/webhook"
    forged = "2026-12-01T10:00:00.000+00:00 INFO infra_gitops.daemon.passes: storage: applied"
    body = json.dumps(
        {
            "ref": f"refs/heads/main\n{forged}",
            "after": f"{sha}\n{forged}",
            "pusher": {"name": f"alice\r\n{forged}"},
        }
    ).encode()
    signature = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    start = threading.Barrier(100)

    def deliver(_: int) -> int:
        start.wait(timeout=30)
        # A reset or a timeout raises here and fails the test.
        return _post(hook, body, signature)

    with ThreadPoolExecutor(max_workers=100) as pool:
        statuses = list(pool.map(deliver, range(100)))

    # 503 (with Retry-After) is the documented answer when the daemon sheds load.
    assert set(statuses) <= {202, 503}, statuses
    assert statuses.count(202) > 0
    wait_for("the trigger logged", lambda: "reconcile requested" in daemon.log)
    lines = daemon.log.splitlines()
    assert not [line for line in lines if line.startswith(forged)]
    assert any(f"by alice\\r\\n{forged}" in line for line in lines)
