"""A stand-in for the GitHub and GitLab REST APIs on 127.0.0.1 (their real servers cannot
be reached from the test machines): the few endpoints `ci plan` and `promote
--pull-request` call, with state, and every request recorded so tests can assert what
was sent.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class StandinState:
    comments: dict[int, dict[str, Any]] = field(default_factory=dict)
    statuses: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    pulls: list[dict[str, Any]] = field(default_factory=list)
    """Pull (merge) requests opened, as sent."""
    requests: list[Request] = field(default_factory=list)
    fail_with: int | None = None
    """Answer every request with this HTTP status (403: a token without permission)."""
    page_size: int = 2
    """Small pages, so clients must follow Link: rel="next"."""
    next_id: int = 100

    def bodies(self) -> list[str]:
        return [c["body"] for c in self.comments.values()]


_ISSUE_COMMENTS = re.compile(r"^/repos/[^/]+/[^/]+/issues/\d+/comments$")
_COMMENT = re.compile(r"^/repos/[^/]+/[^/]+/issues/comments/(\d+)$")
_STATUS = re.compile(r"^/repos/[^/]+/[^/]+/statuses/([0-9a-f]{40})$")
_NOTES = re.compile(r"^/api/v4/projects/[^/]+/merge_requests/\d+/notes$")
_NOTE = re.compile(r"^/api/v4/projects/[^/]+/merge_requests/\d+/notes/(\d+)$")
_GL_STATUS = re.compile(r"^/api/v4/projects/[^/]+/statuses/([0-9a-f]{40})$")
_PULLS = re.compile(r"^/repos/[^/]+/[^/]+/pulls$")
_MERGE_REQUESTS = re.compile(r"^/api/v4/projects/[^/]+/merge_requests$")


def _handler(state: StandinState, lock: threading.Lock) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return None  # quiet test output

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_PATCH(self) -> None:
            self._serve("PATCH")

        def do_PUT(self) -> None:
            self._serve("PUT")

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            path, _, query = self.path.partition("?")
            with lock:
                state.requests.append(Request(method, path, dict(self.headers), body))
                if state.fail_with is not None:
                    return self._reply(state.fail_with, {"message": "Resource not accessible"})
                self._route(method, path, query, body)

        def _route(self, method: str, path: str, query: str, body: Any) -> None:
            if (_ISSUE_COMMENTS.match(path) or _NOTES.match(path)) and method == "GET":
                return self._page(path, query)
            if (_ISSUE_COMMENTS.match(path) or _NOTES.match(path)) and method == "POST":
                state.next_id += 1
                state.comments[state.next_id] = {"id": state.next_id, "body": body["body"]}
                return self._reply(201, state.comments[state.next_id])
            match = _COMMENT.match(path) or _NOTE.match(path)
            if match and method in ("PATCH", "PUT"):
                comment = state.comments[int(match.group(1))]
                comment["body"] = body["body"]
                return self._reply(200, comment)
            if (_PULLS.match(path) or _MERGE_REQUESTS.match(path)) and method == "POST":
                state.pulls.append(body)
                number = len(state.pulls)
                url = f"https://git.example/{path.split('/')[2]}/pull/{number}"
                return self._reply(201, {"number": number, "html_url": url, "web_url": url})
            match = _STATUS.match(path) or _GL_STATUS.match(path)
            if match and method == "POST":
                state.statuses.append((match.group(1), body))
                return self._reply(201, body)
            return self._reply(404, {"message": "Not Found"})

        def _page(self, path: str, query: str) -> None:
            params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
            page = int(params.get("page", "1"))
            items = sorted(state.comments.values(), key=lambda c: c["id"])
            size = state.page_size
            chunk = items[(page - 1) * size : page * size]
            headers = {}
            if page * size < len(items):
                host = f"http://{self.server.server_address[0]}:{self.server.server_address[1]}"
                headers["Link"] = f'<{host}{path}?page={page + 1}>; rel="next"'
            self._reply(200, chunk, headers)

        def _reply(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler


@contextmanager
def standin_api() -> Iterator[tuple[str, StandinState]]:
    """(base URL, state) of a stand-in API server running for the block."""
    state = StandinState()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state, threading.Lock()))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host}:{port}", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
