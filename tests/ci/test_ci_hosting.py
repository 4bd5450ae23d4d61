"""The pull request comment and commit status, against the stand-in GitHub/GitLab API."""

from __future__ import annotations

import pytest
from ci_standin import StandinState

from infra_gitops.ci.context import CIContext, Provider
from infra_gitops.ci.hosting import open_host
from infra_gitops.ci.http import ApiError
from infra_gitops.ci.markdown import MARKER

TOKEN = "ghp_secretToken42abcdefghij"
SHA = "a" * 40


def _github(url: str) -> CIContext:
    return CIContext(Provider.GITHUB, "main", SHA, 7, "acme/infra", url)


def test_github_comment_is_created_once_then_updated(api: tuple[str, StandinState]) -> None:
    url, state = api
    # Other people's comments come first, over more than one page.
    state.comments = {i: {"id": i, "body": f"LGTM {i}"} for i in range(1, 4)}
    with open_host(_github(url), {"GITHUB_TOKEN": TOKEN}) as host:
        assert host is not None
        assert host.upsert_comment(f"{MARKER}\nfirst") == "created"
        assert host.upsert_comment(f"{MARKER}\nsecond") == "updated"
        assert host.upsert_comment(f"{MARKER}\nthird") == "updated"
        host.set_status(SHA, False, "policy violated: no-prod-deletes")
    ours = [b for b in state.bodies() if b.startswith(MARKER)]
    assert ours == [f"{MARKER}\nthird"]
    assert state.statuses == [
        (
            SHA,
            {
                "state": "failure",
                "description": "policy violated: no-prod-deletes",
                "context": "infra-gitops/plan",
            },
        )
    ]
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in state.requests)
    assert all(TOKEN not in r.path for r in state.requests)


def test_a_403_says_the_token_lacks_permission_without_the_token(
    api: tuple[str, StandinState],
) -> None:
    url, state = api
    state.fail_with = 403
    with open_host(_github(url), {"GITHUB_TOKEN": TOKEN}) as host:
        assert host is not None
        with pytest.raises(ApiError) as caught:
            host.upsert_comment(f"{MARKER}\nbody")
    message = str(caught.value)
    assert "HTTP 403: the token lacks permission" in message
    assert "list the pull request's comments" in message
    assert TOKEN not in message


def test_unreachable_api_is_an_api_error() -> None:
    with open_host(_github("http://127.0.0.1:9"), {"GITHUB_TOKEN": TOKEN}) as host:
        assert host is not None
        with pytest.raises(ApiError, match="GitHub API: cannot"):
            host.set_status(SHA, True, "ok")


def test_no_token_means_no_host(api: tuple[str, StandinState]) -> None:
    url, state = api
    with open_host(_github(url), {}) as host:
        assert host is None
    with open_host(CIContext(Provider.LOCAL, "main", SHA), {"GITHUB_TOKEN": TOKEN}) as host:
        assert host is None
    assert state.requests == []


def test_gitlab_note_is_created_then_updated_and_status_set(
    api: tuple[str, StandinState],
) -> None:
    url, state = api
    ctx = CIContext(Provider.GITLAB, "b" * 40, SHA, 5, "group/infra", url + "/api/v4")
    with open_host(ctx, {"GITLAB_TOKEN": TOKEN}) as host:
        assert host is not None
        assert host.upsert_comment(f"{MARKER}\none") == "created"
        assert host.upsert_comment(f"{MARKER}\ntwo") == "updated"
        host.set_status(SHA, True, "2 stack(s) planned")
    assert state.bodies() == [f"{MARKER}\ntwo"]
    assert state.statuses[0][1]["state"] == "success"
    assert state.requests[0].path == "/api/v4/projects/group%2Finfra/merge_requests/5/notes"
    assert state.requests[0].headers["PRIVATE-TOKEN"] == TOKEN
