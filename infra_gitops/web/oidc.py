"""Single sign-on routes (OpenID Connect, auth/oidc.py does the protocol):

    GET /auth/oidc/login[?return_to=/PATH]  302 to the provider, the login's secrets in
                                            a sealed, short-lived cookie (auth/oidc_state.py)
    GET /auth/oidc/callback?code=&state=    the provider's answer: state checked, code
                                            exchanged, ID token verified, groups mapped;
                                            a session cookie, then 302 to return_to or /

Both are public (they are how one logs in) and answer 404 when no single sign-on is
configured. Refusals are 400 (a broken or replayed callback) or 401 (the provider or the
ID token said no) in the one JSON error shape, and logged with the reason: never the
code, a token or the cookie.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from infra_gitops.auth.oidc import CALLBACK_PATH, OidcError
from infra_gitops.auth.oidc_state import PENDING_TTL_S, LoginAttempt, PendingLogin
from infra_gitops.daemon.logs import escape_controls
from infra_gitops.web.auth import WebAuth
from infra_gitops.web.responses import NO_STORE, error_response

log = logging.getLogger(__name__)

LOGIN_PATH = "/auth/oidc/login"
PENDING_COOKIE = "ig_oidc"
"""The login in progress; sent back to the callback only (its Path). Behind TLS it is
SECURE_PENDING_COOKIE (__Secure-: a plain-http page cannot set or overwrite it; __Host-
would need Path=/)."""
SECURE_PENDING_COOKIE = "__Secure-ig_oidc"
MAX_RETURN_TO = 2048


class OidcEndpoints:
    def __init__(self, auth: WebAuth) -> None:
        self.auth = auth

    async def login(self, request: Request) -> Response:
        client = self.auth.oidc
        if client is None or self.auth.store is None:
            return _not_configured()
        attempt = LoginAttempt.new()
        try:
            url = await run_in_threadpool(client.authorization_url, attempt)
        except OidcError as exc:
            _log_refused(exc)
            return error_response(502, f"single sign-on is unavailable: {exc}")
        pending = PendingLogin(attempt, safe_return_to(request.query_params.get("return_to")))
        answer = RedirectResponse(url, status_code=302, headers=NO_STORE)
        answer.set_cookie(
            _pending_cookie(self.auth),
            client.pending.seal(pending),
            max_age=int(PENDING_TTL_S),
            path=CALLBACK_PATH,
            secure=self.auth.secure_cookies,
            httponly=True,
            # Lax: the provider's redirect back is a top-level GET from another site,
            # which a Strict cookie would not follow.
            samesite="lax",
        )
        return answer

    async def callback(self, request: Request) -> Response:
        client, store = self.auth.oidc, self.auth.store
        if client is None or store is None:
            return _not_configured()
        pending = client.pending.open(request.cookies.get(_pending_cookie(self.auth), ""))
        query = request.query_params
        refusal = _check_callback(pending, query.get("state"), query.get("error"))
        if refusal is not None:
            return self._cleared(refusal)
        assert pending is not None
        if not client.pending.use(pending):
            log.warning("single sign-on refused: a replayed callback", extra=_event("replay"))
            return self._cleared(error_response(400, "this login was already used: log in again"))
        code = query.get("code")
        if not code:
            return self._cleared(error_response(400, "the provider's answer has no code"))
        try:
            principal = await run_in_threadpool(client.sign_in, code, pending.attempt)
        except OidcError as exc:
            _log_refused(exc)
            return self._cleared(error_response(401, f"single sign-on refused: {exc}"))
        session = await run_in_threadpool(store.sessions.create_session, principal)
        log.info(
            "%s logged in by single sign-on (%s)",
            escape_controls(principal.name),
            ", ".join(str(g) for g in principal.grants),
            extra={"event": "login", "account": principal.name, "via": "oidc"},
        )
        answer = RedirectResponse(pending.return_to, status_code=302, headers=NO_STORE)
        self.auth.set_session_cookie(answer, session)
        return self._cleared(answer)

    def _cleared(self, answer: Response) -> Response:
        """answer, with the pending login's cookie gone (whatever the outcome: single use)."""
        answer.delete_cookie(
            _pending_cookie(self.auth),
            path=CALLBACK_PATH,
            secure=self.auth.secure_cookies,
            httponly=True,
            samesite="lax",
        )
        return answer


def safe_return_to(value: str | None) -> str:
    """value when it is a path on this site; "/" otherwise. Never an absolute URL
    (https://evil.example) nor one a browser reads as such (//evil.example, /\\evil):
    the login must not become an open redirect."""
    if not value or len(value) > MAX_RETURN_TO or not value.startswith("/"):
        return "/"
    if value.startswith(("//", "/\\")) or any(c in value for c in "\\\r\n\t"):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


def _check_callback(
    pending: PendingLogin | None, state: str | None, error: str | None
) -> Response | None:
    if pending is None:
        log.warning(
            "single sign-on refused: no login in progress (cookie missing, altered or expired)",
            extra=_event("no_pending"),
        )
        return error_response(
            400, f"no login in progress here, or it expired: start again at {LOGIN_PATH}"
        )
    if error:
        log.warning(
            "single sign-on refused by the provider: %s",
            escape_controls(error[:100]),
            extra=_event("provider"),
        )
        return error_response(401, f"the provider refused the login: {error[:100]}")
    if state != pending.attempt.state:
        log.warning("single sign-on refused: the state does not match", extra=_event("state"))
        return error_response(400, "the login's state does not match: start again")
    return None


def _pending_cookie(auth: WebAuth) -> str:
    return SECURE_PENDING_COOKIE if auth.secure_cookies else PENDING_COOKIE


def _not_configured() -> Response:
    return error_response(404, "single sign-on is not configured")


def _log_refused(exc: OidcError) -> None:
    log.warning("single sign-on refused: %s", exc, extra=_event(exc.step))


def _event(reason: str) -> dict[str, str]:
    return {"event": "sso_refused", "reason": reason}
