"""POST /webhook: a GitHub-style push delivery, signed with a shared secret, triggers a
reconcile at once.

Bodies come from anyone who can reach the daemon, before their signature is known: each
one needs one plain Content-Length (411), at most Limits.max_body_bytes (413), a body
slot (at most max_bodies_in_flight read at once; 503 after waiting body_slot_wait_s) and
must arrive whole within body_deadline_s (408). Refusals are answered before the body is
read (responses.UnreadAnswer)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from infra_gitops.daemon.contracts import DaemonApi
from infra_gitops.daemon.logs import escape_controls
from infra_gitops.web.limits import Limits
from infra_gitops.web.responses import JsonResponse, UnreadAnswer, error_response

log = logging.getLogger(__name__)

_DECIMAL = re.compile(r"[0-9]{1,12}")  # ASCII digits: str.isdigit() also takes "²"


class Webhook:
    """The endpoint, with its secret and its body slots (state: a class)."""

    def __init__(self, api: DaemonApi, secret: bytes | None, limits: Limits) -> None:
        self._api = api
        self._secret = secret or None
        self._limits = limits
        # Bound to the server's event loop at its first use (asyncio 3.10+).
        self._slots = asyncio.Semaphore(limits.max_bodies_in_flight)

    async def __call__(self, request: Request) -> Response:
        if self._secret is None:
            message = "webhook disabled: the daemon was started without a webhook secret"
            return self._refuse(404, message)
        refusal = self._framing_refusal(request)
        if refusal is not None:
            return refusal
        try:
            async with asyncio.timeout(self._limits.body_slot_wait_s):
                await self._slots.acquire()
        except TimeoutError:
            message = "too many webhook deliveries at once: retry"
            return self._refuse(503, message, {"Retry-After": "1"})
        try:
            body = await self._read_body(request)
            if isinstance(body, Response):
                return body
            return await self._handle(request, self._secret, body)
        finally:
            self._slots.release()

    def _framing_refusal(self, request: Request) -> Response | None:
        """411/413 for a body without one plain, small enough Content-Length."""
        if "transfer-encoding" in request.headers:
            # Chunked bodies have no length to check up front; and a length beside a
            # transfer encoding is how requests are smuggled past proxies.
            return self._refuse(411, "Content-Length required, not chunked")
        # Exactly one, in ASCII digits: two lengths are another way to smuggle a request.
        # (uvicorn's parser answers 400 to most such framings before they get here.)
        lengths = request.headers.getlist("content-length")
        if len(lengths) != 1 or not _DECIMAL.fullmatch(lengths[0].strip()):
            return self._refuse(411, "Content-Length required")
        if int(lengths[0]) > self._limits.max_body_bytes:
            return self._refuse(413, f"body larger than {self._limits.max_body_bytes} bytes")
        return None

    async def _read_body(self, request: Request) -> bytes | Response:
        """The raw body (the signature covers raw bytes), or the answer when it does not
        all arrive within body_deadline_s."""
        deadline_s = self._limits.body_deadline_s
        chunks: list[bytes] = []
        try:
            async with asyncio.timeout(deadline_s):
                async for chunk in request.stream():
                    chunks.append(chunk)
        except TimeoutError:
            message = f"the body did not arrive within {deadline_s:g}s"
            return error_response(408, message, {"Connection": "close"})
        except ClientDisconnect:
            # The client went away mid-body: no one is left to read this.
            return error_response(400, "body shorter than Content-Length", {"Connection": "close"})
        return b"".join(chunks)

    async def _handle(self, request: Request, secret: bytes, body: bytes) -> Response:
        if not signature_ok(secret, body, request.headers.get("x-hub-signature-256")):
            client = request.client.host if request.client else "?"
            log.warning(
                "webhook rejected: bad or missing signature",
                extra={"event": "webhook_rejected", "client": client},
            )
            return error_response(401, "bad or missing signature")
        event = request.headers.get("x-github-event", "")
        if event == "ping":
            return JsonResponse({"ok": True, "event": "ping"})
        if event != "push":
            return JsonResponse({"ignored": True, "event": event}, 202)
        payload = _push_payload(body, request.headers.get("content-type", ""))
        if payload is None:
            return error_response(400, "push payload is not JSON")
        reason = push_reason(payload)
        await run_in_threadpool(self._api.trigger, reason)
        log.info("webhook: reconcile triggered", extra={"event": "webhook", "reason": reason})
        return JsonResponse({"triggered": True, "reason": reason}, 202)

    def _refuse(
        self, status_code: int, message: str, headers: Mapping[str, str] | None = None
    ) -> Response:
        return UnreadAnswer(status_code, message, linger_s=self._limits.linger_s, headers=headers)


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
