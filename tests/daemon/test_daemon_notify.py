"""Notifications delivered over real HTTP to a receiver on 127.0.0.1."""

from __future__ import annotations

import logging
import time

import pytest
from edge_helpers import Receiver, receiving

from infra_gitops.daemon.contracts import Event, EventKind
from infra_gitops.daemon.notify import (
    Delivery,
    NullNotifier,
    WebhookNotifier,
    build_notifier,
    slack_text,
)
from infra_gitops.errors import GitOpsError

SHA = "4b1c0a7d9e2f4b1c0a7d9e2f4b1c0a7d9e2f4b1c"
DRIFT = Event(
    kind=EventKind.DRIFT,
    message="2 resources changed outside Git",
    stack="storage",
    commit=SHA,
    run_id="run-42",
    details={"changed": ["aws_s3_bucket.this"]},
)
FAST = Delivery(timeout_s=1.0, attempts=3, backoff_s=0.05)


def test_generic_webhook_gets_the_event_as_json() -> None:
    with receiving(Receiver()) as receiver:
        notifier = build_notifier([receiver.url + "/hook"], [], delivery=FAST)
        notifier.notify(DRIFT)
        got = receiver.wait_for(1)
        notifier.close()
    assert len(got) == 1
    assert got[0].path == "/hook"
    assert got[0].headers["Content-Type"] == "application/json"
    body = got[0].json()
    assert body["schema"] == "infra-gitops/event/v1"
    assert {k: body[k] for k in ("kind", "stack", "commit", "run_id", "message")} == {
        "kind": "drift",
        "stack": "storage",
        "commit": SHA,
        "run_id": "run-42",
        "message": "2 resources changed outside Git",
    }
    assert body["details"] == {"changed": ["aws_s3_bucket.this"]}


def test_slack_gets_one_readable_line_with_commit_and_run() -> None:
    with receiving(Receiver()) as receiver:
        notifier = build_notifier([], [receiver.url + "/services/T0/B0/XYZ"], delivery=FAST)
        notifier.notify(DRIFT)
        got = receiver.wait_for(1)
        notifier.close()
    assert got[0].json() == {"text": slack_text(DRIFT)}
    text = got[0].json()["text"]
    assert "\n" not in text
    assert "drift" in text and "`storage`" in text and "2 resources changed outside Git" in text
    assert SHA[:10] in text and "run-42" in text


def test_both_kinds_of_target_get_every_event() -> None:
    with receiving(Receiver()) as generic, receiving(Receiver()) as slack:
        notifier = build_notifier([generic.url], [slack.url], delivery=FAST)
        for kind in (EventKind.APPLIED, EventKind.FAILED):
            notifier.notify(Event(kind=kind, message=f"{kind} happened", stack="app"))
        notifier.close()
        assert [r.json()["kind"] for r in generic.wait_for(2)] == ["applied", "failed"]
        assert len(slack.wait_for(2)) == 2


def test_kinds_filter_what_is_sent() -> None:
    with receiving(Receiver()) as receiver:
        notifier = build_notifier([receiver.url], [], kinds=[EventKind.FAILED], delivery=FAST)
        notifier.notify(DRIFT)
        notifier.notify(Event(kind=EventKind.FAILED, message="plan failed", stack="app"))
        notifier.close()
        assert [r.json()["kind"] for r in receiver.received] == ["failed"]


def test_a_500_is_retried_until_it_succeeds() -> None:
    with receiving(Receiver(statuses=[500, 502])) as receiver:
        notifier = build_notifier([receiver.url], [], delivery=FAST)
        notifier.notify(DRIFT)
        got = receiver.wait_for(3)
        notifier.close()
    assert len(got) == 3
    assert got[0].body == got[2].body


def test_a_4xx_is_not_retried(caplog: pytest.LogCaptureFixture) -> None:
    with receiving(Receiver(statuses=[404])) as receiver:
        notifier = build_notifier([receiver.url], [], delivery=FAST)
        notifier.notify(DRIFT)
        notifier.close()
        time.sleep(0.2)
        assert len(receiver.received) == 1
    assert "HTTP 404" in caplog.text


def test_a_hanging_receiver_never_blocks_the_caller() -> None:
    delivery = Delivery(timeout_s=0.3, attempts=2, backoff_s=0.05, queue_size=5)
    with receiving(Receiver(hang_s=3.0)) as receiver:
        notifier = build_notifier([receiver.url], [], delivery=delivery)
        started = time.monotonic()
        for _ in range(50):  # far more than the queue holds: the rest are dropped
            notifier.notify(DRIFT)
        notify_s = time.monotonic() - started
        started = time.monotonic()
        notifier.close(timeout=0.5)
        close_s = time.monotonic() - started
    assert notify_s < 0.1
    assert close_s < 1.5


def test_a_receiver_that_is_down_is_logged_without_the_slack_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with receiving(Receiver()) as receiver:
        dead = receiver.url  # its port is closed once the block ends
    url = dead + "/services/T0SECRET/B0SECRET/tokenSECRET?x=querySECRET"
    notifier = build_notifier([], [url], delivery=FAST)
    with caplog.at_level(logging.WARNING, logger="infra_gitops"):
        notifier.notify(DRIFT)
        notifier.close(timeout=5)
    assert "attempt 3 of 3" in caplog.text
    assert "ConnectionError" in caplog.text
    assert "SECRET" not in caplog.text
    assert "127.0.0.1" in caplog.text  # the host is still there to debug with


def test_notify_never_raises_after_close() -> None:
    notifier = WebhookNotifier([], delivery=FAST)
    notifier.close()
    notifier.notify(DRIFT)


def test_without_urls_it_is_a_no_op() -> None:
    assert isinstance(build_notifier([], []), NullNotifier)


@pytest.mark.parametrize("url", ["ftp://example.com/x", "hooks.slack.com/services/T/B/X", ""])
def test_a_bad_url_is_refused_without_echoing_it(url: str) -> None:
    with pytest.raises(GitOpsError, match="--notify-slack: expected an http") as raised:
        build_notifier([], [url])
    assert not url or url not in str(raised.value)
