"""Who is asking, on every request but the public ones (health, readiness, the signed
webhook, the login itself): an API token (`Authorization: Bearer igt_...`) or a login
session (a cookie), else 401. A request carrying a session cookie that changes something
(POST, PUT, PATCH, DELETE) must also carry the session's CSRF token in X-CSRF-Token,
else 403; a bearer token needs none (no browser sends that header by itself).

The session cookie is `ig_session; Path=/; HttpOnly; SameSite=Lax`, and with TLS in front
(--external-url https://...) `__Host-ig_session` and Secure too. No Max-Age: the server's
expiry is the truth (auth/sessions.py).

With --no-auth (the daemon allows it on a loopback address only) every request acts as
ANONYMOUS, an admin: the old behaviour, for a laptop.

Why a refusal is refused is logged (reason, never the credential); the answer says only
what a caller can act on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from infra_gitops.auth.errors import Refused
from infra_gitops.auth.oidc import OidcClient
from infra_gitops.auth.rbac import Action, Grant, Principal, Role, can
from infra_gitops.auth.sessions import Session, csrf_ok, csrf_token
from infra_gitops.auth.store import AuthStore
from infra_gitops.daemon.logs import escape_controls
from infra_gitops.web.bodies import small_json
from infra_gitops.web.responses import JsonResponse, error_response

log = logging.getLogger(__name__)

COOKIE = "ig_session"
SECURE_COOKIE = "__Host-ig_session"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_LOGIN_BODY = 4096

ANONYMOUS = Principal("anonymous", (Grant(Role.ADMIN),), via="none")
"""Who acts when authentication is off (--no-auth, loopback only)."""
NOBODY = Principal("", (), via="none")
"""Who asks on the open paths (health, the logins, an open /metrics): no grant at all,
so a handler that checks a role there refuses rather than allows."""

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="infra-gitops"'}


@dataclass(frozen=True)
class WebAuth:
    """How the edge authenticates: the auth store (None: authentication off), whether
    cookies need TLS (Secure, __Host-), whether /metrics is open to anyone, and the
    single sign-on provider's client (None: not configured; web/oidc.py)."""

    store: AuthStore | None
    secure_cookies: bool = False
    metrics_open: bool = False
    oidc: OidcClient | None = None

    @property
    def cookie(self) -> str:
        return SECURE_COOKIE if self.secure_cookies else COOKIE

    def set_session_cookie(self, response: Response, session: Session) -> None:
        """Log the browser in: the session's id in the cookie (the OIDC callback too)."""
        response.set_cookie(
            self.cookie,
            session.id,
            path="/",
            secure=self.secure_cookies,
            httponly=True,
            samesite="lax",
        )

    def clear_session_cookie(self, response: Response) -> None:
        response.delete_cookie(
            self.cookie, path="/", secure=self.secure_cookies, httponly=True, samesite="lax"
        )


def principal_of(request: HTTPConnection) -> Principal:
    """Who asks, as Authenticate set it (ANONYMOUS with authentication off); NOBODY on
    the open paths, where Authenticate sets nobody."""
    return request.scope.get("state", {}).get("principal", NOBODY)


def session_of(request: HTTPConnection) -> Session | None:
    """The login session the request came with (None for a token or with auth off)."""
    return request.scope.get("state", {}).get("session")


def allowed(request: HTTPConnection, action: Action, stack: str | None = None) -> bool:
    return can(principal_of(request), action, stack)


class Authenticate:
    """The middleware (pure ASGI): sets scope["state"]["principal"] (and "session"), or
    answers 401/403 itself."""

    def __init__(
        self,
        app: ASGIApp,
        auth: WebAuth,
        is_public: Callable[[str, str], bool],
        page_refusal: Callable[[str, str], Response | None] = lambda method, path: None,
    ):
        self.app = app
        self.auth = auth
        self.is_public = is_public
        self.page_refusal = page_refusal
        """The answer to a web UI page asked for without a session (a redirect to the
        login page, not a 401); None for the API's paths."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._open(scope):
            await self.app(scope, receive, send)
            return
        answer = await self._authenticate(scope)
        if answer is not None:
            await answer(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _open(self, scope: Scope) -> bool:
        path = scope["path"]
        return self.is_public(scope["method"], path) or (
            self.auth.metrics_open and path == "/metrics"
        )

    async def _authenticate(self, scope: Scope) -> Response | None:
        """None once the principal is in scope; else the refusal to send."""
        state = scope.setdefault("state", {})
        store = self.auth.store
        if store is None:
            state["principal"] = ANONYMOUS
            return None
        headers = Headers(scope=scope)
        where = f"{scope['method']} {escape_controls(scope['path'])}"
        scheme, _, credential = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            try:
                state["principal"] = await run_in_threadpool(
                    store.tokens.authenticate, credential.strip()
                )
            except Refused as refused:
                _log_refused(where, refused)
                return error_response(
                    401,
                    "invalid API token: it is unknown, expired or revoked",
                    {"WWW-Authenticate": 'Bearer realm="infra-gitops", error="invalid_token"'},
                )
            return None
        session_id = HTTPConnection(scope).cookies.get(self.auth.cookie, "")
        session = None
        if session_id:
            session = await run_in_threadpool(store.sessions.session_for, session_id)
        if session is None:
            if session_id:
                log.info("%s: session unknown or expired", where, extra={"event": "auth_refused"})
            answer = self.page_refusal(scope["method"], scope["path"]) or error_response(
                401, "log in first: no live session or API token", _CHALLENGE
            )
            if session_id:
                self.auth.clear_session_cookie(answer)
            return answer
        if scope["method"] in UNSAFE_METHODS and not csrf_ok(session, headers.get(CSRF_HEADER)):
            log.warning("%s: CSRF token missing or wrong", where, extra={"event": "csrf_refused"})
            return error_response(
                403,
                f"CSRF token missing or wrong: send the {CSRF_HEADER} header of GET /api/session",
            )
        state["principal"] = session.principal
        state["session"] = session
        return None


def _log_refused(where: str, refused: Refused) -> None:
    log.info("%s: %s", where, refused, extra={"event": "auth_refused", "reason": refused.reason})


class SessionEndpoints:
    """/api/session: POST logs in (name and password as JSON), GET says who is logged in
    and gives the CSRF token, DELETE logs out."""

    max_checks = 4
    """Password checks at once. Each costs argon2's ~0.3 s of CPU: a flood of logins
    (a password spray over many names, which no per-account lockout slows) must queue
    here, not take every core and the thread pool the API answers from."""
    check_wait_s = 5.0
    """How long a login waits for its turn before 503 and Retry-After."""

    def __init__(self, auth: WebAuth) -> None:
        self.auth = auth
        self._checks: asyncio.Semaphore | None = None

    async def login(self, request: Request) -> Response:
        store = self.auth.store
        if store is None:
            return error_response(404, "authentication is off (--no-auth): nothing to log in to")
        # JSON only: a cross-site HTML form cannot send it without a CORS preflight
        # we never allow, so no page elsewhere can log a visitor in as someone else.
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return error_response(415, 'log in with a JSON body: {"name": ..., "password": ...}')
        body = await small_json(request, MAX_LOGIN_BODY)
        if body is None:
            return error_response(413, f"the login body is over {MAX_LOGIN_BODY} bytes")
        name, password = _credentials(body)
        if name is None or password is None:
            return error_response(400, 'expected a JSON object {"name": "...", "password": "..."}')
        checks = self._checks = self._checks or asyncio.Semaphore(self.max_checks)
        try:
            async with asyncio.timeout(self.check_wait_s):
                await checks.acquire()
        except TimeoutError:
            log.warning("too many logins at once: 503", extra={"event": "login_busy"})
            return error_response(503, "too many logins at once: retry", {"Retry-After": "1"})
        try:
            principal = await run_in_threadpool(store.accounts.login, name, password)
        except Refused as refused:
            _log_refused(f"login {escape_controls(name)!r}", refused)
            return error_response(401, "wrong name or password, or the account is locked")
        finally:
            checks.release()
        session = await run_in_threadpool(store.sessions.create_session, principal)
        log.info(
            "%s logged in", principal.name, extra={"event": "login", "account": principal.name}
        )
        answer = JsonResponse(_whoami(principal, session))
        self.auth.set_session_cookie(answer, session)
        return answer

    def whoami(self, request: Request) -> Response:
        return JsonResponse(_whoami(principal_of(request), session_of(request)))

    def logout(self, request: Request) -> Response:
        session = session_of(request)
        if session is not None and self.auth.store is not None:
            self.auth.store.sessions.end_session(session.id)
        answer = JsonResponse({"logged_out": session is not None})
        self.auth.clear_session_cookie(answer)
        return answer


def _whoami(principal: Principal, session: Session | None) -> dict[str, Any]:
    return {
        "name": principal.name,
        "via": principal.via,
        "roles": [str(g) for g in principal.grants],
        "csrf_token": csrf_token(session) if session else None,
        "expires_at": session.expires_at.isoformat() if session else None,
    }


def _credentials(body: Any) -> tuple[str | None, str | None]:
    if not isinstance(body, dict):
        return None, None
    name, password = body.get("name"), body.get("password")
    if not isinstance(name, str) or not isinstance(password, str) or not name:
        return None, None
    return name, password
