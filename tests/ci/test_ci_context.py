"""Base, head and pull request read from GitHub Actions and GitLab CI; flags win."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra_gitops.ci.context import Provider, detect
from infra_gitops.errors import GitOpsError


def test_github_reads_the_pull_request_event(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps(
            {"pull_request": {"number": 12, "base": {"sha": "b" * 40}, "head": {"sha": "h" * 40}}}
        )
    )
    ctx = detect(
        {
            "GITHUB_ACTIONS": "true",
            "GITHUB_EVENT_PATH": str(event),
            "GITHUB_BASE_REF": "main",
            "GITHUB_SHA": "m" * 40,
            "GITHUB_REPOSITORY": "acme/infra",
            "GITHUB_API_URL": "http://127.0.0.1:9/",
        }
    )
    assert ctx.provider is Provider.GITHUB
    # The pull request's head, not GITHUB_SHA (GitHub's test merge commit).
    assert (ctx.base_ref, ctx.head_ref, ctx.change_number) == ("b" * 40, "h" * 40, 12)
    assert (ctx.project, ctx.api_url, ctx.token_variable) == (
        "acme/infra",
        "http://127.0.0.1:9",
        "GITHUB_TOKEN",
    )


def test_github_without_payload_uses_the_base_branch_and_sha() -> None:
    ctx = detect({"GITHUB_ACTIONS": "true", "GITHUB_BASE_REF": "main", "GITHUB_SHA": "c" * 40})
    assert (ctx.base_ref, ctx.head_ref, ctx.change_number) == ("origin/main", "c" * 40, None)
    assert ctx.api_url == "https://api.github.com"


def test_gitlab_merge_request_pipeline() -> None:
    ctx = detect(
        {
            "GITLAB_CI": "true",
            "CI_MERGE_REQUEST_DIFF_BASE_SHA": "b" * 40,
            "CI_COMMIT_SHA": "h" * 40,
            "CI_MERGE_REQUEST_IID": "5",
            "CI_PROJECT_ID": "42",
            "CI_API_V4_URL": "https://gitlab.example/api/v4",
        }
    )
    assert ctx.provider is Provider.GITLAB
    assert (ctx.base_ref, ctx.head_ref, ctx.change_number, ctx.project) == (
        "b" * 40,
        "h" * 40,
        5,
        "42",
    )
    assert ctx.token_variable == "GITLAB_TOKEN"


def test_flags_win_and_outside_ci_there_is_no_base() -> None:
    assert detect({}).base_ref is None
    ctx = detect({"GITLAB_CI": "true", "CI_COMMIT_SHA": "h" * 40}, base="main", head="topic")
    assert (ctx.base_ref, ctx.head_ref) == ("main", "topic")


def test_a_broken_event_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "event.json"
    bad.write_text("{not json")
    with pytest.raises(GitOpsError, match="event.json is not valid JSON"):
        detect({"GITHUB_ACTIONS": "true", "GITHUB_EVENT_PATH": str(bad)})
