"""The daemon's HTTP endpoints: health, readiness, Prometheus metrics, the push webhook
and a read-only API.

The standard library's ThreadingHTTPServer is enough here: a handful of small JSON
endpoints, scraped or called a few times a minute, never exposed without a proxy in
front for TLS. A framework would add a dependency and a server to tune for no gain.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import logging
import socket
import threading
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from infra_gitops.daemon.contracts import DaemonApi
from infra_gitops.errors import GitOpsError

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 5 * 1024 * 1024
"""GitHub truncates push payloads to 20 commits; 5 MiB is far above a real one and keeps
a hostile client from making us buffer gigabytes."""

SOCKET_TIMEOUT_S = 15.0
"""A client that stops sending mid-request frees its thread after this long."""


@dataclasses.dataclass(frozen=True)
class Endpoints:
    """What every request handler needs: passed explicitly, never a module global."""

    api: DaemonApi
    registry: CollectorRegistry
    webhook_secret: bytes | None


class ServerHandle:
    """A running server: its address, and close() to stop it (also a context manager)."""

    def __init__(self, httpd: ThreadingHTTPServer, thread: threading.Thread) -> None:
        self._httpd = httpd
        self._thread = thread
        host, port = httpd.server_address[:2]
        self.host: str = str(host)
        self.port: int = int(port)

    @property
    def address(self) -> str:
        """HOST:PORT actually bound (the real port when 0 was asked for)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5.0)

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def parse_listen(listen: str) -> tuple[str, int]:
    """HOST:PORT ([::1]:8080 for IPv6) -> (host, port); a clear error otherwise."""
    host, sep, port_text = listen.rpartition(":")
    if not sep or not host or not port_text.isdigit() or int(port_text) > 65535:
        raise GitOpsError(f"--listen: expected HOST:PORT such as 127.0.0.1:8080, got {listen!r}")
    return host.strip("[]"), int(port_text)


def serve(
    listen: str,
    api: DaemonApi,
    metrics_registry: CollectorRegistry,
    *,
    webhook_secret: bytes | None,
) -> ServerHandle:
    """Start serving on listen (port 0: a free port) in a background thread."""
    host, port = parse_listen(listen)
    endpoints = Endpoints(api, metrics_registry, webhook_secret or None)
    server_class = _server_class(host)
    try:
        httpd = server_class((host, port), _handler_class(endpoints))
    except OSError as exc:
        raise GitOpsError(f"--listen {listen}: cannot listen there: {exc.strerror}") from exc
    thread = threading.Thread(
        target=httpd.serve_forever,
        kwargs={"poll_interval": 0.2},
        name=f"http-{port}",
        daemon=True,
    )
    thread.start()
    handle = ServerHandle(httpd, thread)
    log.info("serving on %s", handle.url, extra={"event": "listening", "address": handle.address})
    return handle


def _server_class(host: str) -> type[ThreadingHTTPServer]:
    class Server(ThreadingHTTPServer):
        daemon_threads = True
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

    return Server


def _handler_class(endpoints: Endpoints) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        pass

    Handler.endpoints = endpoints
    return Handler


class _Handler(BaseHTTPRequestHandler):
    endpoints: Endpoints
    timeout = SOCKET_TIMEOUT_S
    server_version = "infra-gitops"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        path = urlsplit(self.path).path.rstrip("/") or "/"
        route = _ROUTES.get(path)
        try:
            if route is None:
                self._send_json(HTTPStatus.NOT_FOUND, {"error": f"no such endpoint: {path}"})
            elif route[0] != method:
                self._send_json(
                    HTTPStatus.METHOD_NOT_ALLOWED,
                    {"error": f"{path} takes {route[0]}"},
                    headers={"Allow": route[0]},
                )
            else:
                route[1](self)
        except Exception:
            # The traceback goes to the log, never to the client.
            log.exception("%s %s failed", method, path, extra={"event": "http_error"})
            self._send_json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal error"})

    # -- endpoints -------------------------------------------------------------------------

    def healthz(self) -> None:
        self._send_json(HTTPStatus.OK, dict(self.endpoints.api.health()))

    def readyz(self) -> None:
        ready, facts = self.endpoints.api.readiness()
        status = HTTPStatus.OK if ready else HTTPStatus.SERVICE_UNAVAILABLE
        self._send_json(status, {"ready": ready, **facts})

    def metrics(self) -> None:
        body = generate_latest(self.endpoints.registry)
        self._send(HTTPStatus.OK, body, CONTENT_TYPE_LATEST)

    def stacks(self) -> None:
        views = [dataclasses.asdict(v) for v in self.endpoints.api.stacks()]
        self._send_json(HTTPStatus.OK, views)

    def webhook(self) -> None:
        secret = self.endpoints.webhook_secret
        if secret is None:
            self._discard_body()
            self._send_json(
                HTTPStatus.NOT_FOUND,
                {"error": "webhook disabled: the daemon was started without a webhook secret"},
            )
            return
        body = self._read_body()
        if body is None:
            return
        if not signature_ok(secret, body, self.headers.get("X-Hub-Signature-256")):
            log.warning(
                "webhook rejected: bad or missing signature",
                extra={"event": "webhook_rejected", "client": self.client_address[0]},
            )
            self._send_json(HTTPStatus.UNAUTHORIZED, {"error": "bad or missing signature"})
            return
        self._accept_event(self.headers.get("X-GitHub-Event", ""), body)

    def _accept_event(self, event: str, body: bytes) -> None:
        if event == "ping":
            self._send_json(HTTPStatus.OK, {"ok": True, "event": "ping"})
            return
        if event != "push":
            self._send_json(HTTPStatus.ACCEPTED, {"ignored": True, "event": event})
            return
        payload = _push_payload(body, self.headers.get("Content-Type", ""))
        if payload is None:
            self._send_json(HTTPStatus.BAD_REQUEST, {"error": "push payload is not JSON"})
            return
        reason = push_reason(payload)
        self.endpoints.api.trigger(reason)
        log.info("webhook: reconcile triggered", extra={"event": "webhook", "reason": reason})
        self._send_json(HTTPStatus.ACCEPTED, {"triggered": True, "reason": reason})

    # -- plumbing --------------------------------------------------------------------------

    def _read_body(self) -> bytes | None:
        """The raw body, or None after answering 411/413 (the signature covers raw bytes)."""
        length_text = self.headers.get("Content-Length")
        if length_text is None or not length_text.isdigit():
            self.close_connection = True
            self._send_json(HTTPStatus.LENGTH_REQUIRED, {"error": "Content-Length required"})
            return None
        length = int(length_text)
        if length > MAX_BODY_BYTES:
            self.close_connection = True  # the unread body would poison the connection
            self._send_json(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                {"error": f"body larger than {MAX_BODY_BYTES} bytes"},
            )
            return None
        return self.rfile.read(length)

    def _discard_body(self) -> None:
        length_text = self.headers.get("Content-Length", "0")
        length = int(length_text) if length_text.isdigit() else 0
        if 0 < length <= MAX_BODY_BYTES:
            self.rfile.read(length)
        elif length:
            self.close_connection = True

    def _send_json(
        self, status: HTTPStatus, data: Any, headers: Mapping[str, str] | None = None
    ) -> None:
        body = (json.dumps(data, default=str, sort_keys=True) + "\n").encode()
        self._send(status, body, "application/json", headers)

    def _send(
        self,
        status: HTTPStatus,
        body: bytes,
        content_type: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (base signature)
        # Access lines at debug: scrapes every 15 s would drown the event log. They hold
        # method, path and status only: no header, so never a signature or a secret.
        log.debug("%s " + format, self.client_address[0], *args, extra={"event": "http"})


Route = tuple[str, Callable[[_Handler], None]]
_ROUTES: dict[str, Route] = {
    "/healthz": ("GET", _Handler.healthz),
    "/readyz": ("GET", _Handler.readyz),
    "/metrics": ("GET", _Handler.metrics),
    "/api/stacks": ("GET", _Handler.stacks),
    "/webhook": ("POST", _Handler.webhook),
}


def sign(secret: bytes, body: bytes) -> str:
    """The X-Hub-Signature-256 header value GitHub sends for this body."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def signature_ok(secret: bytes, body: bytes, header: str | None) -> bool:
    if not header or not header.startswith("sha256="):
        return False
    return hmac.compare_digest(sign(secret, body).encode(), header.strip().encode())


def _push_payload(body: bytes, content_type: str) -> Mapping[str, Any] | None:
    """GitHub sends JSON, or a form with the JSON in `payload` (the legacy content type)."""
    try:
        text = body.decode("utf-8")
        if content_type.startswith("application/x-www-form-urlencoded"):
            text = parse_qs(text).get("payload", [""])[0]
        data = json.loads(text)
    except (UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, Mapping) else None


def push_reason(payload: Mapping[str, Any]) -> str:
    """webhook: push <after-sha> by <pusher> (GitHub puts the pusher under pusher.name)."""
    after = str(payload.get("after") or "?")
    pusher = payload.get("pusher")
    name = pusher.get("name") if isinstance(pusher, Mapping) else None
    if not name:
        sender = payload.get("sender")
        name = sender.get("login") if isinstance(sender, Mapping) else None
    # Authenticated, yet still foreign text bound for logs and records: kept short.
    return f"webhook: push {after[:64]} by {str(name or 'unknown')[:100]}"
