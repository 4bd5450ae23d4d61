"""The edge's lifecycle: uvicorn serving the application on its own event loop, in a
thread of the daemon process; the daemon keeps SIGTERM and SIGINT (uvicorn installs no
signal handler outside the main thread) and stops the server with ServerHandle.close().

How the bounds map onto uvicorn (limits.Limits):
- listen_backlog -> the socket's listen() backlog (uvicorn's `backlog`);
- idle_timeout_s -> `timeout_keep_alive`, and a timer on a new connection's first request
  (uvicorn closes an idle connection only after an answer: one that never sends would
  hold its place forever);
- max_connections -> ConnectionGate: uvicorn's `limit_concurrency` test (connections open,
  idle ones included) answered with our JSON 503 and Retry-After instead of its plain text;
- shutdown_grace_s -> `timeout_graceful_shutdown`.
The protocol is h11 and the loop asyncio, named, never "auto": the same parser whether
or not httptools is installed, so the answers to malformed requests do not change with
the environment.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Collection
from types import TracebackType

import uvicorn
from prometheus_client import CollectorRegistry
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from infra_gitops.daemon.contracts import DaemonApi
from infra_gitops.errors import GitOpsError
from infra_gitops.web.app import HttpMiddleware, build_app
from infra_gitops.web.auth import WebAuth
from infra_gitops.web.limits import DEFAULT_LIMITS, Limits
from infra_gitops.web.responses import UnreadAnswer

log = logging.getLogger(__name__)

_START_TIMEOUT_S = 10.0


class ServerHandle:
    """A running server: its address, and close() to stop it (also a context manager)."""

    def __init__(self, server: uvicorn.Server, thread: threading.Thread, sock: socket.socket):
        self._server = server
        self._thread = thread
        self._socket = sock
        host, port = sock.getsockname()[:2]
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
        """Stop accepting, let requests in progress finish (shutdown_grace_s), stop."""
        self._server.should_exit = True
        self._thread.join(timeout=(self._server.config.timeout_graceful_shutdown or 0) + 5.0)
        self._socket.close()

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
    auth: WebAuth,
    limits: Limits = DEFAULT_LIMITS,
) -> ServerHandle:
    """Start serving on listen (port 0: a free port) in a background thread; returns
    once the server accepts."""
    app = build_app(api, metrics_registry, webhook_secret=webhook_secret, limits=limits, auth=auth)
    gate = ConnectionGate(app, limits)
    server = uvicorn.Server(_config(gate, limits))
    gate.connections = server.server_state.connections
    sock = _bind(listen, limits.listen_backlog)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"http-{sock.getsockname()[1]}"
    )
    thread.daemon = True
    thread.start()
    handle = ServerHandle(server, thread, sock)
    _wait_started(server, thread, handle)
    log.info("serving on %s", handle.url, extra={"event": "listening", "address": handle.address})
    return handle


def _bind(listen: str, backlog: int) -> socket.socket:
    """The listening socket, bound here so that a taken port is a clear error at once
    and port 0 tells its real port before the server runs."""
    host, port = parse_listen(listen)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, not 0: asyncio turns Nagle off (TCP_NODELAY) only on sockets
    # whose proto says TCP, and accepted ones inherit it. With Nagle, each keep-alive
    # answer (headers, then body: two writes) waits ~40 ms for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        reason = exc.strerror or str(exc)
        raise GitOpsError(f"--listen {listen}: cannot listen there: {reason}") from exc
    sock.set_inheritable(False)
    return sock


def _config(app: ASGIApp, limits: Limits) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        http=_Protocol,
        loop="asyncio",  # named too: uvloop, if a user has it, changes nothing here
        lifespan="off",  # nothing to start or stop with the application
        backlog=limits.listen_backlog,
        timeout_keep_alive=int(limits.idle_timeout_s),
        timeout_graceful_shutdown=int(limits.shutdown_grace_s),
        # Our log module owns logging: no dictConfig of uvicorn's own, no access log of
        # its own (AccessLog writes ours), and only its warnings (not "Started server").
        log_config=None,
        access_log=False,
        log_level="warning",
        server_header=False,
        proxy_headers=False,  # no proxy is trusted to name the client
    )


def _wait_started(server: uvicorn.Server, thread: threading.Thread, handle: ServerHandle) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            handle.close()
            raise GitOpsError(f"--listen {handle.address}: the HTTP server did not start")
        time.sleep(0.005)


class ConnectionGate(HttpMiddleware):
    """Past max_connections open connections, a request gets 503 with Retry-After at
    once, its body unread. `connections` is uvicorn's live set of them, bound by serve()
    once the server exists."""

    def __init__(self, app: ASGIApp, limits: Limits) -> None:
        super().__init__(app)
        self.limits = limits
        self.connections: Collection[object] = ()

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if len(self.connections) > self.limits.max_connections:
            log.debug("too many connections: 503", extra={"event": "http_busy"})
            busy = UnreadAnswer(
                503,
                "too many connections: retry",
                linger_s=self.limits.linger_s,
                headers={"Retry-After": "1"},
            )
            await busy(scope, receive, send)
            return
        await self.app(scope, receive, send)


class _Protocol(H11Protocol):
    """uvicorn's h11 protocol, also closing a new connection that sends no complete
    request head within timeout_keep_alive (uvicorn times idle connections out only
    between requests)."""

    _first_request_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._first_request_timer = self.loop.call_later(
            self.timeout_keep_alive, self._no_request_in_time
        )

    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not None and self._first_request_timer is not None:
            self._first_request_timer.cancel()
            self._first_request_timer = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._first_request_timer is not None:
            self._first_request_timer.cancel()
        super().connection_lost(exc)

    def _no_request_in_time(self) -> None:
        self._first_request_timer = None
        if self.cycle is None and not self.transport.is_closing():
            self.transport.close()
