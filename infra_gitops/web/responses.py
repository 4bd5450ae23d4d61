"""Every answer of the edge in one JSON shape: a document, or `{"error": "..."}` with
its status; never a traceback, never HTML."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

NO_STORE = {"Cache-Control": "no-store"}
"""Every answer is about now: no proxy or browser may keep one."""


class JsonResponse(Response):
    """A JSON document: keys sorted, non-JSON values as their str(), newline-terminated
    (the shape the edge has always answered, so scripts diffing answers keep working)."""

    media_type = "application/json"

    def __init__(
        self, content: Any, status_code: int = 200, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(content, status_code, {**NO_STORE, **(headers or {})})

    def render(self, content: Any) -> bytes:
        return (json.dumps(content, default=str, sort_keys=True) + "\n").encode()


def error_response(
    status_code: int, message: str, headers: Mapping[str, str] | None = None
) -> JsonResponse:
    """The one error shape: `{"error": message}`. Also for an authentication middleware
    (401/403), which answers before the routes' exception handlers."""
    return JsonResponse({"error": message}, status_code, headers)


class UnreadAnswer(JsonResponse):
    """An error answered before the request's body is read, then the connection closed.

    What is left of the body is read and dropped (never kept) for up to linger_s first:
    closing a socket with unread data resets it, and a reset can destroy the answer
    before the client reads it. The answer is sent whole (its Content-Length) before the
    draining, so the client has it at once; only the closing waits."""

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        linger_s: float,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(
            {"error": message}, status_code, {"Connection": "close", **(headers or {})}
        )
        self.linger_s = linger_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = {"type": "http.response.start", "status": self.status_code}
        await send({**start, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body, "more_body": True})
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.linger_s):
                while True:
                    message = await receive()
                    if message["type"] != "http.request" or not message.get("more_body"):
                        break
        await send({"type": "http.response.body", "body": b"", "more_body": False})
