"""The web UI: pages rendered on the server from Jinja2 templates (autoescaped), whose
small scripts (web/static, no build step, nothing from a CDN) read the JSON API and
post its actions with the session's CSRF token.

A page asked for without a session redirects to /login (the API answers 401 JSON
instead). Pages carry a Content-Security-Policy allowing this origin's scripts, styles
and connections only (no inline script), and may not be framed.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from infra_gitops.auth.rbac import Action, can
from infra_gitops.models import SENSITIVE_MARKER, UNKNOWN_MARKER
from infra_gitops.web.auth import WebAuth, principal_of
from infra_gitops.web.responses import NO_STORE

SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}

STACK_ACTIONS = (Action.SYNC, Action.REFRESH, Action.HEAL, Action.PAUSE, Action.RESUME)
"""The buttons of a stack's page, shown to the roles that allow them (rollback is on the
history's rows)."""

STATIC = "/static"
PAGE_PREFIXES = ("/stacks/", "/runs/")


@dataclasses.dataclass(frozen=True)
class Page:
    path: str
    template: str
    public: bool = False


PAGES = (
    Page("/login", "login.html", public=True),
    Page("/", "overview.html"),
    Page("/stacks/{name}", "stack.html"),
    Page("/runs/{run_id}", "run.html"),
)


def is_public(method: str, path: str) -> bool:
    """The login page and the static files need no session."""
    return method in ("GET", "HEAD") and (path == "/login" or path.startswith(STATIC + "/"))


def page_refusal(method: str, path: str) -> Response | None:
    """A page a browser navigates to without a session goes to /login, and comes back to
    path once logged in; None for every other path (the API answers 401)."""
    if method not in ("GET", "HEAD") or not (path == "/" or path.startswith(PAGE_PREFIXES)):
        return None
    return RedirectResponse(f"/login?next={quote(path, safe='/')}", 302, headers=_headers())


@functools.cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("infra_gitops.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )


def routes(auth: WebAuth) -> list[BaseRoute]:
    pages: list[BaseRoute] = [
        Route(p.path, _page_handler(p, auth), methods=["GET"], name=p.template) for p in PAGES
    ]
    static = StaticFiles(packages=[("infra_gitops.web", "static")])
    return [*pages, Mount(STATIC, app=static, name="static")]


def _page_handler(page: Page, auth: WebAuth) -> Callable[[Request], Any]:
    async def render(request: Request) -> Response:
        html = (
            _environment()
            .get_template(page.template)
            .render(**_context(request, auth, page), **request.path_params)
        )
        return HTMLResponse(html, headers=_headers())

    return render


def _context(request: Request, auth: WebAuth, page: Page) -> dict[str, Any]:
    principal = principal_of(request)
    stack = request.path_params.get("name")
    return {
        "user": "" if page.public else principal.name,
        "auth_on": auth.store is not None,
        "sso": auth.oidc is not None,
        "next": request.query_params.get("next", "/"),
        "sensitive_marker": SENSITIVE_MARKER,
        "unknown_marker": UNKNOWN_MARKER,
        "actions": [str(a) for a in STACK_ACTIONS if stack and can(principal, a, stack)],
        "can_rollback": bool(stack) and can(principal, Action.ROLLBACK, stack),
    }


def _headers() -> dict[str, str]:
    return {**NO_STORE, **SECURITY_HEADERS}
