"""Notifications (drift, failure, apply...) to generic webhooks and Slack-compatible
incoming webhooks.

Delivery happens on one background thread fed by a bounded queue: notify() never
blocks the reconcile loop and never raises into it. A receiver that is down or slow
costs retries on that thread only; when the queue is full new events are dropped,
and logged as dropped.

Slack incoming-webhook URLs carry their credential in the path (and other services put
tokens in the query or userinfo): logs show only the scheme and host, and every error
text is scrubbed of the URL's secret parts.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import requests

from infra_gitops.daemon.contracts import Event, EventKind, Notifier
from infra_gitops.errors import GitOpsError
from infra_gitops.redaction import Scrubber

log = logging.getLogger(__name__)

EVENT_SCHEMA = "infra-gitops/event/v1"
DEFAULT_KINDS = frozenset(EventKind)
"""Every kind by default: each is something an operator acts on; `kinds` narrows it."""

Format = Literal["json", "slack"]


@dataclass(frozen=True)
class Delivery:
    """How hard to try: per request timeout, attempts, backoff between them."""

    timeout_s: float = 5.0
    attempts: int = 4
    backoff_s: float = 0.5
    """Doubled after each failed attempt: 0.5, 1, 2 s."""
    queue_size: int = 1000


@dataclass(frozen=True)
class Target:
    url: str
    format: Format

    @property
    def display(self) -> str:
        """What logs may show: scheme and host, never a path, query or credentials."""
        parts = urlsplit(self.url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
        return f"{self.format} webhook {parts.scheme}://{host}{port}/..."

    def scrubber(self) -> Scrubber:
        parts = urlsplit(self.url)
        secrets = [self.url, parts.path, parts.query, parts.password or "", parts.username or ""]
        # The path alone may be short ("/hook"); still a secret for Slack, so no minimum.
        return Scrubber([s for s in secrets if s and s != "/"], min_length=1)


class NullNotifier:
    """No notification configured."""

    def notify(self, event: Event) -> None:
        pass

    def close(self, timeout: float = 5.0) -> None:
        pass


class WebhookNotifier:
    """Posts events to each target from one background thread."""

    def __init__(
        self,
        targets: Iterable[Target],
        *,
        kinds: Iterable[EventKind] | None = None,
        delivery: Delivery = Delivery(),
    ) -> None:
        self._targets = tuple(targets)
        self._kinds = frozenset(kinds) if kinds is not None else DEFAULT_KINDS
        self._delivery = delivery
        self._queue: queue.Queue[Event | None] = queue.Queue(maxsize=delivery.queue_size)
        self._abandon = threading.Event()
        self._session = requests.Session()
        self._thread = threading.Thread(target=self._work, name="notify", daemon=True)
        self._thread.start()

    def notify(self, event: Event) -> None:
        if event.kind not in self._kinds or self._abandon.is_set():
            return
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            log.warning(
                "notification dropped: queue full (receivers too slow or down)",
                extra={"event": "notify_dropped", "kind": str(event.kind), "stack": event.stack},
            )

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued within timeout, then give up on the rest."""
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=max(0.0, timeout))
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._abandon.set()
            log.warning(
                "notifications not delivered before shutdown: %d left",
                self._queue.qsize(),
                extra={"event": "notify_abandoned"},
            )
        self._session.close()

    def _work(self) -> None:
        while not self._abandon.is_set():
            event = self._queue.get()
            if event is None:
                return
            for target in self._targets:
                if self._abandon.is_set():
                    return
                self._deliver(target, event)

    def _deliver(self, target: Target, event: Event) -> None:
        body = render(event, target.format)
        delay = self._delivery.backoff_s
        for attempt in range(1, self._delivery.attempts + 1):
            outcome = self._post(target, body)
            if outcome is None:
                return
            retry = attempt < self._delivery.attempts and outcome.retryable
            log.warning(
                "notification to %s failed (attempt %d of %d): %s%s",
                target.display,
                attempt,
                self._delivery.attempts,
                outcome.reason,
                "; retrying" if retry else "",
                extra={"event": "notify_failed", "kind": str(event.kind), "stack": event.stack},
            )
            if not retry or self._abandon.wait(delay):
                return
            delay *= 2

    def _post(self, target: Target, body: Mapping[str, Any]) -> _Failure | None:
        try:
            response = self._session.post(
                target.url,
                data=json.dumps(body, default=str).encode(),
                headers={"Content-Type": "application/json", "User-Agent": "infra-gitops"},
                timeout=self._delivery.timeout_s,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            # requests puts the URL (path included) in its messages: scrub it.
            return _Failure(target.scrubber().scrub(f"{type(exc).__name__}: {exc}"), True)
        if response.status_code < 300:
            return None
        retryable = response.status_code >= 500 or response.status_code == 429
        return _Failure(f"HTTP {response.status_code}", retryable)


@dataclass(frozen=True)
class _Failure:
    reason: str
    retryable: bool


def render(event: Event, fmt: Format) -> dict[str, Any]:
    if fmt == "slack":
        return {"text": slack_text(event)}
    return {
        "schema": EVENT_SCHEMA,
        "source": "infra-gitops",
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "kind": str(event.kind),
        "message": event.message,
        "stack": event.stack,
        "commit": event.commit,
        "run_id": event.run_id,
        "details": dict(event.details),
    }


_ICONS = {
    EventKind.DRIFT: ":warning:",
    EventKind.HEALED: ":adhesive_bandage:",
    EventKind.APPLIED: ":white_check_mark:",
    EventKind.FAILED: ":x:",
    EventKind.ORPHANED: ":ghost:",
    EventKind.PRUNED: ":wastebasket:",
    EventKind.HELD: ":hourglass:",
    EventKind.FETCH_FAILED: ":satellite:",
    EventKind.PRUNE_REFUSED: ":shield:",
    EventKind.RENAMED: ":label:",
    EventKind.BAD_COMMIT: ":no_entry:",
    EventKind.PAUSED: ":double_vertical_bar:",
    EventKind.RESUMED: ":arrow_forward:",
    EventKind.UNMANAGED: ":mag:",
}


def slack_text(event: Event) -> str:
    """One readable line: icon, kind, stack, message, then commit and run id."""
    where = f" `{event.stack}`" if event.stack else ""
    facts = []
    if event.commit:
        facts.append(f"commit {event.commit[:10]}")
    if event.run_id:
        facts.append(f"run {event.run_id}")
    tail = f" ({', '.join(facts)})" if facts else ""
    message = " ".join(event.message.split())  # one line, whatever the message holds
    return f"{_ICONS.get(event.kind, '')} infra-gitops {event.kind}{where}: {message}{tail}".strip()


def build_notifier(
    webhook_urls: Iterable[str],
    slack_urls: Iterable[str],
    *,
    kinds: Iterable[EventKind] | None = None,
    delivery: Delivery = Delivery(),
) -> Notifier:
    """A notifier for --notify-webhook and --notify-slack URLs (a no-op without any)."""
    targets = [_target(u, "json", "--notify-webhook") for u in webhook_urls]
    targets += [_target(u, "slack", "--notify-slack") for u in slack_urls]
    if not targets:
        return NullNotifier()
    return WebhookNotifier(targets, kinds=kinds, delivery=delivery)


def _target(url: str, fmt: Format, flag: str) -> Target:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        # Not echoing the value: it may be a secret pasted into the wrong flag.
        raise GitOpsError(f"{flag}: expected an http:// or https:// URL with a host")
    return Target(url, fmt)
