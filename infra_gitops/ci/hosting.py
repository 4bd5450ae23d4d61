"""The pull request comment and the commit status, on GitHub or GitLab.

One comment per pull request: found again by the hidden marker at its top and edited
in place on every later run, never posted twice. With no token in the environment
nothing is called at all.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote

from infra_gitops.ci.context import CIContext, Provider
from infra_gitops.ci.http import ApiError, JsonApi
from infra_gitops.ci.markdown import MARKER
from infra_gitops.errors import ConfigError

STATUS_CONTEXT = "infra-gitops/plan"


class Host(Protocol):
    def upsert_comment(self, body: str) -> str:
        """Create or update our comment; 'created' or 'updated'."""

    def set_status(self, sha: str, ok: bool, description: str) -> None:
        """The commit status of sha: success or failure, with a one-line description."""


@dataclass(frozen=True)
class GitHub:
    api: JsonApi
    repository: str
    """owner/name"""
    number: int | None

    def upsert_comment(self, body: str) -> str:
        if self.number is None:
            raise ApiError("GitHub: no pull request number in the event payload: not commenting")
        issue = f"/repos/{self.repository}/issues/{self.number}"
        existing = _first_marked(
            self.api.pages(
                f"{issue}/comments", "list the pull request's comments", {"per_page": 100}
            )
        )
        if existing is None:
            self.api.request("POST", f"{issue}/comments", "comment", json={"body": body})
            return "created"
        path = f"/repos/{self.repository}/issues/comments/{existing}"
        self.api.request("PATCH", path, "update the comment", json={"body": body})
        return "updated"

    def set_status(self, sha: str, ok: bool, description: str) -> None:
        payload = {
            "state": "success" if ok else "failure",
            "description": description[:140],
            "context": STATUS_CONTEXT,
        }
        path = f"/repos/{self.repository}/statuses/{sha}"
        self.api.request("POST", path, "set the commit status", json=payload)


@dataclass(frozen=True)
class GitLab:
    api: JsonApi
    project: str
    """The numeric ID, or the path (group/name)."""
    iid: int | None

    def upsert_comment(self, body: str) -> str:
        if self.iid is None:
            raise ApiError("GitLab: no merge request (CI_MERGE_REQUEST_IID): not commenting")
        notes = f"/projects/{quote(self.project, safe='')}/merge_requests/{self.iid}/notes"
        params = {"per_page": 100, "sort": "asc", "order_by": "created_at"}
        existing = _first_marked(self.api.pages(notes, "list the merge request's notes", params))
        if existing is None:
            self.api.request("POST", notes, "add a note", json={"body": body})
            return "created"
        self.api.request("PUT", f"{notes}/{existing}", "update the note", json={"body": body})
        return "updated"

    def set_status(self, sha: str, ok: bool, description: str) -> None:
        payload = {
            "state": "success" if ok else "failed",
            "name": STATUS_CONTEXT,
            "description": description[:255],
        }
        path = f"/projects/{quote(self.project, safe='')}/statuses/{sha}"
        self.api.request("POST", path, "set the commit status", json=payload)


class ChangeRequests(Protocol):
    def open(self, *, head: str, base: str, title: str, body: str) -> str:
        """Open a pull (merge) request from branch head into base; its web URL."""


@dataclass(frozen=True)
class GitHubPulls:
    api: JsonApi
    repository: str

    def open(self, *, head: str, base: str, title: str, body: str) -> str:
        payload = {"head": head, "base": base, "title": title, "body": body}
        made = self.api.request(
            "POST", f"/repos/{self.repository}/pulls", "open a pull request", json=payload
        )
        return str(made.get("html_url") or made.get("url") or "")


@dataclass(frozen=True)
class GitLabMergeRequests:
    api: JsonApi
    project: str

    def open(self, *, head: str, base: str, title: str, body: str) -> str:
        payload = {
            "source_branch": head,
            "target_branch": base,
            "title": title,
            "description": body,
        }
        path = f"/projects/{quote(self.project, safe='')}/merge_requests"
        made = self.api.request("POST", path, "open a merge request", json=payload)
        return str(made.get("web_url") or "")


CHANGE_REQUEST_HOSTS = {
    "github": ("GITHUB_TOKEN", "GITHUB_API_URL", "https://api.github.com"),
    "gitlab": ("GITLAB_TOKEN", "CI_API_V4_URL", "https://gitlab.com/api/v4"),
}
"""Host -> (the variable holding the token, the variable of the API URL, its default)."""


@contextmanager
def open_change_requests(
    where: str, env: Mapping[str, str], api_url: str | None = None
) -> Iterator[ChangeRequests]:
    """Where pull requests are opened: "github:OWNER/REPO" or "gitlab:GROUP/PROJECT",
    with the token from GITHUB_TOKEN / GITLAB_TOKEN. A ConfigError before anything is
    called when where or the token is missing."""
    kind, _, project = where.partition(":")
    if kind not in CHANGE_REQUEST_HOSTS or not project:
        raise ConfigError(
            f"--pull-request {where!r}: expected github:OWNER/REPO or gitlab:GROUP/PROJECT"
        )
    token_variable, url_variable, default_url = CHANGE_REQUEST_HOSTS[kind]
    token = env.get(token_variable, "")
    if not token:
        raise ConfigError(
            f"--pull-request {where}: set {token_variable} to a token allowed to open pull requests"
        )
    base_url = api_url or env.get(url_variable) or default_url
    if kind == "github":
        api = _github_api(base_url, token)
        requests: ChangeRequests = GitHubPulls(api, project)
    else:
        api = _gitlab_api(base_url, token)
        requests = GitLabMergeRequests(api, project)
    try:
        yield requests
    finally:
        api.close()


def _github_api(base_url: str, token: str) -> JsonApi:
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
    }
    return JsonApi("GitHub", base_url, headers, token)


def _gitlab_api(base_url: str, token: str) -> JsonApi:
    return JsonApi("GitLab", base_url, {"PRIVATE-TOKEN": token}, token)


def _first_marked(comments: Iterator[object]) -> int | None:
    for comment in comments:
        if isinstance(comment, dict) and str(comment.get("body", "")).startswith(MARKER):
            return int(comment["id"])
    return None


@contextmanager
def open_host(ctx: CIContext, env: Mapping[str, str]) -> Iterator[Host | None]:
    """The pull request's host, or None when there is no token (or no CI to talk to)."""
    name = ctx.token_variable
    token = env.get(name, "") if name else ""
    if not token or ctx.api_url is None or ctx.project is None:
        yield None
        return
    if ctx.provider is Provider.GITHUB:
        api = _github_api(ctx.api_url, token)
        host: Host = GitHub(api, ctx.project, ctx.change_number)
    else:
        api = _gitlab_api(ctx.api_url, token)
        host = GitLab(api, ctx.project, ctx.change_number)
    try:
        yield host
    finally:
        api.close()
