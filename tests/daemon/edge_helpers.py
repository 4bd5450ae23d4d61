"""Helpers for the daemon's edge tests (server, metrics, notifications, logs): a stand-in
for the daemon core behind the DaemonApi seam, and a real HTTP receiver for webhooks."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from infra_gitops.daemon.contracts import (
    ActionRefused,
    LogChunk,
    NotFound,
    StackDetail,
    StackView,
    SyncStatus,
)
from infra_gitops.models import Run


@dataclass
class FakeDaemonApi:
    """The DaemonApi seam as the core implements it, reduced to recorded calls: the core
    is built by another developer at the same time, and the server only needs the seam."""

    ready: bool = True
    fetch_age_s: float | None = 3.0
    triggers: list[str] = field(default_factory=list)
    views: list[StackView] = field(default_factory=list)
    fail_health: bool = False
    actions: list[tuple[str, str, str]] = field(default_factory=list)
    """(stack, action, actor) of every action accepted."""
    refuse_actions: str = ""
    """When set, every action is refused (409) with this reason."""
    runs: list[Run] = field(default_factory=list)
    """The records, newest first."""
    logs: dict[str, bytes] = field(default_factory=dict)
    """Each run's whole log (run id -> bytes); a run still running gets its log so far."""
    edges: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def health(self) -> Mapping[str, Any]:
        if self.fail_health:
            raise RuntimeError("boom: internal detail /secret/path")
        return {"ok": True, "version": "test"}

    def readiness(self) -> tuple[bool, Mapping[str, Any]]:
        return self.ready, {"last_fetch_age_s": self.fetch_age_s, "max_fetch_age_s": 180}

    def trigger(self, reason: str) -> None:
        self.triggers.append(reason)

    def stacks(self) -> list[StackView]:
        return self.views

    def act(
        self, stack: str, action: str, actor: str, commit: str | None = None
    ) -> Mapping[str, Any]:
        if stack not in {v.name for v in self.views}:
            raise ActionRefused(404, f"no stack {stack!r}")
        if self.refuse_actions:
            raise ActionRefused(409, self.refuse_actions)
        self.actions.append((stack, action, actor))
        return {
            "action": action,
            "stack": stack,
            "commit": commit or "b" * 40,  # a rollback's target, else the branch's head
            "trigger": f"api:{action}",
            "actor": actor,
            "done": action in ("pause", "resume"),
        }

    def _view(self, name: str) -> StackView:
        found = next((v for v in self.views if v.name == name), None)
        if found is None:
            raise NotFound(f"no stack {name!r}")
        return found

    def stack(self, name: str) -> StackDetail:
        return StackDetail(view=self._view(name), depends_on=self.edges.get(name, ()))

    def history(self, name: str, limit: int) -> list[Run]:
        self._view(name)
        return [r for r in self.runs if r.stack == name][:limit]

    def run(self, run_id: str) -> Run:
        found = next((r for r in self.runs if r.id == run_id), None)
        if found is None:
            raise NotFound(f"no run {run_id!r}")
        return found

    def run_log(self, run_id: str, offset: int) -> LogChunk:
        record = self.run(run_id)
        data = self.logs.get(run_id, b"")[offset:]
        final = None if str(record.status) == "running" else str(record.status)
        return LogChunk(record.stack, data, offset + len(data), final)

    def graph(self) -> Mapping[str, tuple[str, ...]]:
        return {v.name: self.edges.get(v.name, ()) for v in self.views}

    def environments(self) -> list[dict[str, Any]]:
        return []


def a_view(name: str, status: SyncStatus = SyncStatus.SYNCED) -> StackView:
    return StackView(
        name=name,
        status=status,
        engine="terraform",
        applied_commit="a" * 40,
        desired_commit="b" * 40,
        last_drift_check="2026-11-23T17:00:00+00:00",
        last_run_id="run-1",
        message="",
    )


@dataclass(frozen=True)
class Received:
    path: str
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1: answers `statuses` in turn (then 200), or hangs
    for `hang_s` seconds before answering."""

    statuses: list[int] = field(default_factory=list)
    hang_s: float = 0.0
    received: list[Received] = field(default_factory=list)
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _arrived: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self._arrived = threading.Condition(self._lock)

    def record(self, item: Received) -> int:
        with self._arrived:
            self.received.append(item)
            self._arrived.notify_all()
            return self.statuses.pop(0) if self.statuses else 200

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.received) >= count, timeout)
            return list(self.received)


@contextmanager
def receiving(receiver: Receiver) -> Iterator[Receiver]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _receiver_handler(receiver))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    receiver.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield receiver
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def _receiver_handler(receiver: Receiver) -> Callable[..., BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status = receiver.record(Received(self.path, dict(self.headers), body))
            if receiver.hang_s:
                time.sleep(receiver.hang_s)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    return Handler
