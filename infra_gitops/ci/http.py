"""A small JSON-over-HTTPS client for the GitHub and GitLab REST APIs (requests).

The token travels only in a request header. It is never in a URL, never in an error
message (every message is scrubbed of it), never logged and never stored.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import requests

from infra_gitops.errors import GitOpsError
from infra_gitops.redaction import Scrubber

TIMEOUT = 30.0
MAX_PAGES = 50


class ApiError(GitOpsError):
    """The hosting API refused or failed a request; the message says what to fix."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class JsonApi:
    """One API (base URL + auth headers) for one command; close() ends its connections."""

    def __init__(self, name: str, base_url: str, headers: Mapping[str, str], token: str) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self._scrubber = Scrubber([token], min_length=1)
        self._session = requests.Session()
        self._session.headers.update(headers)
        self._session.headers["User-Agent"] = "infra-gitops"

    def close(self) -> None:
        self._session.close()

    def request(self, method: str, path: str, what: str, **kwargs: Any) -> Any:
        """The decoded JSON response; ApiError naming `what` on failure."""
        return self._send(method, self.base_url + path, what, **kwargs).json()

    def pages(self, path: str, what: str, params: Mapping[str, Any]) -> Iterator[Any]:
        """Items of a paginated list (Link: rel="next", as both GitHub and GitLab send)."""
        url: str | None = self.base_url + path
        query: Mapping[str, Any] | None = params
        for _ in range(MAX_PAGES):
            if url is None:
                return
            response = self._send("GET", url, what, params=query)
            yield from response.json()
            url = response.links.get("next", {}).get("url")
            query = None  # the next link carries the query

    def _send(self, method: str, url: str, what: str, **kwargs: Any) -> requests.Response:
        try:
            response = self._session.request(method, url, timeout=TIMEOUT, **kwargs)
        except requests.RequestException as exc:
            raise ApiError(self._scrub(f"{self.name} API: cannot {what}: {exc}")) from None
        if response.status_code >= 400:
            raise ApiError(self._explain(response, what), response.status_code)
        return response

    def _explain(self, response: requests.Response, what: str) -> str:
        said = _message(response)
        prefix = f"{self.name} API: cannot {what}: HTTP {response.status_code}"
        hint = {
            401: "the token is invalid or expired",
            403: "the token lacks permission for this (or a rate limit was hit)",
            404: "not found, or the token cannot see it",
        }.get(response.status_code, "")
        text = prefix + (f": {hint}" if hint else "") + (f" ({said})" if said else "")
        return self._scrub(text)

    def _scrub(self, text: str) -> str:
        return self._scrubber.scrub(text)


def _message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:200]
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error") or "")[:200]
    return ""
