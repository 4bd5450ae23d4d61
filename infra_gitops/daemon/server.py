"""The daemon's HTTP endpoints: health, readiness, Prometheus metrics, the push webhook
and a read-only API.

The standard library's ThreadingHTTPServer is enough here: a handful of small JSON
endpoints, scraped or called a few times a minute, never exposed without a proxy in
front for TLS. A framework would add a dependency and a server to tune for no gain.

The webhook takes bodies from anyone who can reach it, before their signature is known,
so what the server holds is bounded: connections (one thread each), bodies being read
at once, each body's size and the time it may take to arrive. Past a bound a client gets
an answer (503 with Retry-After, 413, 408), never a reset: a burst of GitHub deliveries
waits in the listen backlog and for a body slot instead.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from infra_gitops.daemon.contracts import DaemonApi
from infra_gitops.daemon.logs import escape_controls
from infra_gitops.errors import GitOpsError, RunStoreError
from infra_gitops.postgres import DatabaseError

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 5 * 1024 * 1024
"""GitHub truncates push payloads to 20 commits; 5 MiB is far above a real one and keeps
a hostile client from making us buffer gigabytes."""

SOCKET_TIMEOUT_S = 15.0
"""A client that stops sending mid-request frees its thread after this long."""

LISTEN_BACKLOG = 128
"""Connections the kernel holds until accepted (the stdlib's 5 resets bursts)."""

MAX_CONNECTIONS = 256
"""Connections served at once, one thread each; past it a client gets 503 at once."""

MAX_BODIES_IN_FLIGHT = 16
"""Bodies read and handled at once: at most this many times MAX_BODY_BYTES in memory,
however many clients send unsigned bodies."""

BODY_SLOT_WAIT_S = 5.0
"""How long a request waits for a body slot before a 503: long enough for a burst of
real deliveries (milliseconds each) to pass, short enough to shed a flood."""

BODY_DEADLINE_S = 10.0
"""The whole body must arrive within this (a byte every few seconds holds no slot)."""

LINGER_S = 1.0
"""After answering without reading the body, how long its rest is read and dropped so
that closing does not reset the connection under the client's reading of the answer."""

_CHUNK = 64 * 1024


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


def _server_class(host: str) -> type[_Server]:
    class Server(_Server):
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

    return Server


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer with a bounded number of connections and of bodies in flight."""

    daemon_threads = True
    block_on_close = False  # daemon threads: nothing to join, no list of them to keep
    request_queue_size = LISTEN_BACKLOG

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self.connection_slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self.body_slots = threading.BoundedSemaphore(MAX_BODIES_IN_FLIGHT)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.connection_slots.acquire(blocking=False):
            _refuse_connection(request)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.connection_slots.release()  # no thread started to release it
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.connection_slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that went away mid-answer: not ours to report on stderr.
        log.debug("connection from %s ended with an error", client_address, exc_info=True)


_BUSY_BODY = b'{"error": "too many connections: retry"}\n'
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    + f"Content-Length: {len(_BUSY_BODY)}\r\n".encode()
    + b"Retry-After: 1\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n"
    + _BUSY_BODY
)


def _refuse_connection(request: socket.socket) -> None:
    """Answer 503 from the accepting thread without reading the request: never blocks
    (a fresh socket's send buffer holds the few bytes), costs no thread."""
    try:
        request.setblocking(False)
        request.send(_BUSY)
    except OSError:
        pass  # the client is gone or not reading: nothing more to do for it


def _handler_class(endpoints: Endpoints) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        pass

    Handler.endpoints = endpoints
    return Handler


class _Handler(BaseHTTPRequestHandler):
    endpoints: Endpoints
    server: _Server
    timeout = SOCKET_TIMEOUT_S
    # Headers and body go out in two writes: with Nagle, each keep-alive answer would
    # wait ~40 ms for the client's delayed ACK.
    disable_nagle_algorithm = True
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
        except (RunStoreError, DatabaseError) as exc:
            # The run records are gone or unusable, or the replicas' database is away
            # (the daemon is unready too): a state the operator must see, not a bug.
            log.warning("%s %s: %s", method, path, exc, extra={"event": "http_unavailable"})
            self._send_json(HTTPStatus.SERVICE_UNAVAILABLE, {"error": str(exc)})
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
            self._answer_unread(
                HTTPStatus.NOT_FOUND,
                {"error": "webhook disabled: the daemon was started without a webhook secret"},
            )
            return
        length = self._content_length()
        if length is None:
            return
        with self._body_slot() as granted:
            if not granted:
                self._answer_unread(
                    HTTPStatus.SERVICE_UNAVAILABLE,
                    {"error": "too many webhook deliveries at once: retry"},
                    headers={"Retry-After": "1"},
                )
                return
            body = self._read_body(length)
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

    def _content_length(self) -> int | None:
        """The body's announced length, or None after answering 400/411/413."""
        if self.headers.get("Transfer-Encoding") is not None:
            # Chunked bodies have no length to check up front; and a length beside a
            # transfer encoding is how requests are smuggled past proxies.
            self._answer_unread(
                HTTPStatus.LENGTH_REQUIRED, {"error": "Content-Length required, not chunked"}
            )
            return None
        # Exactly one, in ASCII digits: two lengths are another way to smuggle a request.
        lengths = self.headers.get_all("Content-Length") or []
        if len(lengths) != 1 or not _DECIMAL.fullmatch(lengths[0].strip()):
            self._answer_unread(HTTPStatus.LENGTH_REQUIRED, {"error": "Content-Length required"})
            return None
        length = int(lengths[0])
        if length > MAX_BODY_BYTES:
            self._answer_unread(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                {"error": f"body larger than {MAX_BODY_BYTES} bytes"},
            )
            return None
        return length

    @contextmanager
    def _body_slot(self) -> Iterator[bool]:
        granted = self.server.body_slots.acquire(timeout=BODY_SLOT_WAIT_S)
        try:
            yield granted
        finally:
            if granted:
                self.server.body_slots.release()

    def _read_body(self, length: int) -> bytes | None:
        """The raw body (the signature covers raw bytes), or None after answering 408/400
        when it does not all arrive within BODY_DEADLINE_S."""
        deadline = time.monotonic() + BODY_DEADLINE_S
        chunks: list[bytes] = []
        remaining = length
        try:
            while remaining:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                self.connection.settimeout(left)
                chunk = self.rfile.read1(min(remaining, _CHUNK))
                if not chunk:
                    break  # the client closed before sending it all
                chunks.append(chunk)
                remaining -= len(chunk)
        except TimeoutError:
            self.close_connection = True
            self._send_json(
                HTTPStatus.REQUEST_TIMEOUT,
                {"error": f"the body did not arrive within {BODY_DEADLINE_S:g}s"},
            )
            return None
        except OSError:
            # The client reset the connection mid-body: no one is left to answer.
            self.close_connection = True
            return None
        finally:
            self.connection.settimeout(self.timeout)
        if remaining:
            self.close_connection = True
            self._send_json(HTTPStatus.BAD_REQUEST, {"error": "body shorter than Content-Length"})
            return None
        return b"".join(chunks)

    def _answer_unread(
        self, status: HTTPStatus, data: Any, headers: Mapping[str, str] | None = None
    ) -> None:
        """Answer before reading the body, then close: what is left of it is read and
        dropped (never kept) for up to LINGER_S, since closing a socket with unread data
        resets it, and a reset can destroy the answer before the client reads it."""
        self.close_connection = True
        self._send_json(status, data, {"Connection": "close", **(headers or {})})
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + LINGER_S
            while (left := deadline - time.monotonic()) > 0:
                self.connection.settimeout(left)
                if not self.rfile.read1(_CHUNK):
                    break
        except OSError:
            pass  # gone already, or still sending after LINGER_S: closed either way

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


_DECIMAL = re.compile(r"[0-9]{1,12}")  # ASCII digits: str.isdigit() also takes "²"


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
    except (ValueError, RecursionError):
        # ValueError covers bad UTF-8 and bad JSON; RecursionError a body nested
        # thousands deep, which the decoder walks recursively.
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
    # Authenticated, yet still foreign text bound for logs and records: kept short, and
    # on one line wherever it is written.
    who = escape_controls(str(name or "unknown")[:100])
    return f"webhook: push {escape_controls(after[:64])} by {who}"
