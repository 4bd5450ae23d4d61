"""The edge's Starlette application: every route in one table (ENDPOINTS), answers and
errors in one JSON shape, access lines through our log.

Middleware, outermost first: the access log, the error guard, the path normaliser, then
authentication (web/auth.py), which lets through the endpoints marked public and sets
who asks for the others. Each handler then checks what that principal may do
(auth/rbac.py): a stack they may not see is left out, an action they may not take is 403.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable
from importlib import resources
from typing import Any

import yaml
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from infra_gitops.auth.oidc import CALLBACK_PATH
from infra_gitops.auth.rbac import Action
from infra_gitops.daemon.contracts import (
    ActionRefused,
    DaemonApi,
    NotFound,
    StackAction,
    StackView,
)
from infra_gitops.daemon.logs import escape_controls
from infra_gitops.errors import RunStoreError
from infra_gitops.postgres import DatabaseError
from infra_gitops.web import documents, events, ui
from infra_gitops.web.auth import Authenticate, SessionEndpoints, WebAuth, allowed, principal_of
from infra_gitops.web.bodies import small_json
from infra_gitops.web.limits import Limits
from infra_gitops.web.oidc import LOGIN_PATH, OidcEndpoints
from infra_gitops.web.responses import NO_STORE, JsonResponse, error_response
from infra_gitops.web.webhook import Webhook

log = logging.getLogger(__name__)

MAX_ACTION_BODY = 4096


@dataclasses.dataclass(frozen=True)
class Handlers:
    """What the endpoints answer from: passed explicitly, never a module global. The
    plain (def) ones run in Starlette's thread pool: the core's calls may block on the
    run store or the database, and must not stall the event loop."""

    api: DaemonApi
    registry: CollectorRegistry
    webhook: Webhook
    session: SessionEndpoints
    oidc: OidcEndpoints

    async def healthz(self, request: Request) -> Response:
        # On the event loop: health() is in-memory facts, "always answerable", and a
        # liveness probe must not queue behind store calls in the thread pool (nor pay
        # its hop: ~0.4 ms of a ~0.8 ms answer, measured with bench/http_edge.py).
        return JsonResponse(dict(self.api.health()))

    def readyz(self, request: Request) -> Response:
        ready, facts = self.api.readiness()
        return JsonResponse({"ready": ready, **facts}, 200 if ready else 503)

    def metrics(self, request: Request) -> Response:
        # Metrics name every stack: readable with a grant over all of them (or open by
        # the daemon's --metrics-open, for a scraper on a trusted network).
        if not (self.session.auth.metrics_open or allowed(request, Action.VIEW, "*")):
            return forbidden(Action.VIEW, "every stack")
        body = generate_latest(self.registry)
        return Response(body, headers=NO_STORE, media_type=CONTENT_TYPE_LATEST)

    def stacks(self, request: Request) -> Response:
        return JsonResponse([dataclasses.asdict(v) for v in self._visible(request)])

    def _visible(self, request: Request) -> list[StackView]:
        """The stacks the caller's roles let them see."""
        return [v for v in self.api.stacks() if allowed(request, Action.VIEW, v.name)]

    async def act(self, request: Request) -> Response:
        name, asked = request.path_params["name"], request.path_params["action"]
        if asked not in set(StackAction):
            return error_response(404, f"no action {asked!r}: {', '.join(StackAction)}")
        action = Action(asked)
        if not allowed(request, action, name):
            return forbidden(action, name)
        body = await small_json(request, MAX_ACTION_BODY)
        if not isinstance(body, dict):
            return error_response(400, 'expected a small JSON object such as {"commit": "SHA"}')
        commit = body.get("commit")
        if commit is not None and not isinstance(commit, str):
            return error_response(400, '"commit" must be a string: a SHA or a ref')
        who = principal_of(request).name
        try:
            accepted = await run_in_threadpool(self.api.act, name, asked, who, commit)
        except ActionRefused as refused:
            return error_response(refused.http_status, str(refused))
        return JsonResponse(dict(accepted), 200 if accepted.get("done") else 202)

    def stack(self, request: Request) -> Response:
        name = request.path_params["name"]
        if not allowed(request, Action.VIEW, name):
            return forbidden(Action.VIEW, name)
        return JsonResponse(documents.stack_document(self.api.stack(name)))

    def history(self, request: Request) -> Response:
        name = request.path_params["name"]
        if not allowed(request, Action.VIEW, name):
            return forbidden(Action.VIEW, name)
        limit = request.query_params.get("limit", "20")
        if not limit.isdigit() or not 1 <= int(limit) <= MAX_HISTORY:
            return error_response(400, f"limit must be a whole number from 1 to {MAX_HISTORY}")
        runs = self.api.history(name, int(limit))
        return JsonResponse([documents.run_summary(r) for r in runs])

    def run(self, request: Request) -> Response:
        found = self.api.run(request.path_params["run_id"])
        if not allowed(request, Action.VIEW, found.stack):
            return forbidden(Action.VIEW, found.stack)
        return JsonResponse(documents.run_document(found))

    async def run_log(self, request: Request) -> Response:
        run_id = request.path_params["run_id"]
        offset = events.start_offset(request.headers.get("last-event-id"))
        first = await run_in_threadpool(self.api.run_log, run_id, offset)
        if not allowed(request, Action.VIEW, first.stack):
            return forbidden(Action.VIEW, first.stack)
        return events.log_stream(self.api, run_id, first, offset=offset)

    def graph(self, request: Request) -> Response:
        return JsonResponse(documents.graph_document(self._visible(request), self.api.graph()))

    async def environments(self, request: Request) -> Response:
        # Reads Git (what each environment runs): off the event loop.
        found = await run_in_threadpool(self.api.environments)
        shown = [e for e in found if allowed(request, Action.VIEW, e["instance"])]
        return JsonResponse({"environments": shown})

    def openapi(self, request: Request) -> Response:
        return JsonResponse(openapi_document())

    async def login(self, request: Request) -> Response:
        return await self.session.login(request)

    def whoami(self, request: Request) -> Response:
        return self.session.whoami(request)

    def logout(self, request: Request) -> Response:
        return self.session.logout(request)

    async def receive_webhook(self, request: Request) -> Response:
        return await self.webhook(request)

    async def oidc_login(self, request: Request) -> Response:
        return await self.oidc.login(request)

    async def oidc_callback(self, request: Request) -> Response:
        return await self.oidc.callback(request)


@dataclasses.dataclass(frozen=True)
class Endpoint:
    path: str
    method: str
    handler: Callable[[Handlers, Request], Any]
    public: bool
    """Open without authentication: probes must reach health and readiness, the webhook
    carries its own signature, and the logins (password, single sign-on) are how one
    authenticates."""


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("/healthz", "GET", Handlers.healthz, public=True),
    Endpoint("/readyz", "GET", Handlers.readyz, public=True),
    Endpoint("/metrics", "GET", Handlers.metrics, public=False),
    Endpoint("/api/openapi.json", "GET", Handlers.openapi, public=False),
    Endpoint("/api/session", "POST", Handlers.login, public=True),
    Endpoint("/api/session", "GET", Handlers.whoami, public=False),
    Endpoint("/api/session", "DELETE", Handlers.logout, public=False),
    Endpoint("/api/stacks", "GET", Handlers.stacks, public=False),
    Endpoint("/api/stacks/{name}", "GET", Handlers.stack, public=False),
    Endpoint("/api/stacks/{name}/runs", "GET", Handlers.history, public=False),
    Endpoint("/api/stacks/{name}/{action}", "POST", Handlers.act, public=False),
    Endpoint("/api/runs/{run_id}", "GET", Handlers.run, public=False),
    Endpoint("/api/runs/{run_id}/log", "GET", Handlers.run_log, public=False),
    Endpoint("/api/graph", "GET", Handlers.graph, public=False),
    Endpoint("/api/environments", "GET", Handlers.environments, public=False),
    Endpoint("/webhook", "POST", Handlers.receive_webhook, public=True),
    Endpoint(LOGIN_PATH, "GET", Handlers.oidc_login, public=True),
    Endpoint(CALLBACK_PATH, "GET", Handlers.oidc_callback, public=True),
)


MAX_HISTORY = 500
"""The most runs GET /api/stacks/{name}/runs answers at once."""


def is_public(method: str, path: str) -> bool:
    """Whether a request needs no authentication (for the auth middleware). HEAD is
    GET's."""
    method = "GET" if method == "HEAD" else method
    path = normal_path(path)
    return ui.is_public(method, path) or any(
        e.public and e.method == method and e.path == path for e in ENDPOINTS
    )


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The API's OpenAPI document (web/openapi.yaml, kept in step with ENDPOINTS by
    tests/web/test_web_openapi.py)."""
    text = resources.files("infra_gitops.web").joinpath("openapi.yaml").read_text("utf-8")
    document: dict[str, Any] = yaml.safe_load(text)
    return document


def forbidden(action: Action, what: str) -> Response:
    return error_response(403, f"your role does not allow {action} on {what}")


def normal_path(path: str) -> str:
    """/healthz/ is /healthz, as it always was (no redirect for a probe to follow)."""
    return path.rstrip("/") or "/"


def build_app(
    api: DaemonApi,
    registry: CollectorRegistry,
    *,
    webhook_secret: bytes | None,
    limits: Limits,
    auth: WebAuth,
) -> Starlette:
    handlers = Handlers(
        api,
        registry,
        Webhook(api, webhook_secret, limits),
        SessionEndpoints(auth),
        OidcEndpoints(auth),
    )
    routes: list[BaseRoute] = [
        Route(e.path, functools.partial(e.handler, handlers), methods=[e.method]) for e in ENDPOINTS
    ]
    routes += ui.routes(auth)
    return Starlette(
        routes=routes,
        middleware=[
            Middleware(AccessLog),
            Middleware(ErrorGuard),
            Middleware(NormalPath),
            Middleware(Authenticate, auth=auth, is_public=is_public, page_refusal=ui.page_refusal),
        ],
        exception_handlers={
            HTTPException: _http_error,  # type: ignore[dict-item]
            NotFound: _not_found,  # type: ignore[dict-item]
        },
    )


async def _not_found(request: Request, exc: NotFound) -> Response:
    return error_response(404, str(exc))


async def _http_error(request: Request, exc: HTTPException) -> Response:
    """Routing's 404 and 405 in the one error shape."""
    path = request.url.path
    if exc.status_code == 404:
        return error_response(404, f"no such endpoint: {path}")
    if exc.status_code == 405:
        # Starlette joins a set (GET brings HEAD): sorted, the header is stable.
        allowed = ", ".join(sorted((exc.headers or {}).get("Allow", "").split(", ")))
        return error_response(405, f"{path} takes {allowed}", {"Allow": allowed})
    return error_response(exc.status_code, exc.detail, exc.headers)


class HttpMiddleware:
    """A pure ASGI middleware (no per-request task or body buffering, unlike Starlette's
    BaseHTTPMiddleware) acting on HTTP requests only; other scopes pass through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.http(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


class ErrorGuard(HttpMiddleware):
    """What an endpoint raises becomes an answer: the run store or the database being
    away is 503 with its message (the daemon is unready too: a state the operator must
    see, not a bug); anything else is 500 with no detail, its traceback in our log only
    (logged once: nothing is re-raised to the server)."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = _Answer(send)
        where = f"{scope['method']} {escape_controls(scope['path'])}"
        try:
            await self.app(scope, receive, answer)
        except (RunStoreError, DatabaseError) as exc:
            log.warning("%s: %s", where, exc, extra={"event": "http_unavailable"})
            if not answer.status:
                await error_response(503, str(exc))(scope, receive, send)
        except Exception:
            log.exception("%s failed", where, extra={"event": "http_error"})
            if not answer.status:
                await error_response(500, "internal error")(scope, receive, send)


class NormalPath(HttpMiddleware):
    """Routes match with or without a trailing slash."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app({**scope, "path": normal_path(scope["path"])}, receive, send)


class AccessLog(HttpMiddleware):
    """One line per request at debug (scrapes every 15 s would drown the event log):
    client, method, path and status only. No header and no query string, so never a
    signature, a token or a secret; the path with its control characters escaped (it is
    percent-decoded: %0A would otherwise start a forged line)."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = _Answer(send)
        try:
            await self.app(scope, receive, answer)
        finally:
            client = scope.get("client") or ("?", 0)
            log.debug(
                "%s %s %s %s",
                client[0],
                scope["method"],
                escape_controls(scope["path"]),
                answer.status,
                extra={"event": "http"},
            )


class _Answer:
    """An ASGI send that remembers the answer's status once it has started (0 before)."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.status = 0

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        await self._send(message)
