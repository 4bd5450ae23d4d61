"""Which CI runs us, which pull request, which commits: read from the CI environment.

GitHub Actions: GITHUB_EVENT_PATH (pull_request.base.sha / head.sha / number),
GITHUB_BASE_REF, GITHUB_SHA, GITHUB_REPOSITORY, GITHUB_API_URL.
GitLab CI: CI_MERGE_REQUEST_DIFF_BASE_SHA, CI_COMMIT_SHA, CI_MERGE_REQUEST_IID,
CI_PROJECT_ID, CI_API_V4_URL. Flags win over both.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from infra_gitops.errors import GitOpsError


class Provider(StrEnum):
    GITHUB = "github"
    GITLAB = "gitlab"
    LOCAL = "local"


TOKEN_VARIABLES = {Provider.GITHUB: "GITHUB_TOKEN", Provider.GITLAB: "GITLAB_TOKEN"}
"""Where the API token is read from: only the environment, never a flag (flags end up
in logs and in `ps`)."""


@dataclass(frozen=True)
class CIContext:
    provider: Provider
    base_ref: str | None
    """The target branch or commit; the merge base with head is what gets compared."""
    head_ref: str
    """The commit planned (a SHA in CI)."""
    change_number: int | None = None
    """The pull request number (GitHub) or merge request IID (GitLab)."""
    project: str | None = None
    """owner/repo (GitHub) or the project ID (GitLab)."""
    api_url: str | None = None

    @property
    def token_variable(self) -> str | None:
        return TOKEN_VARIABLES.get(self.provider)


def detect(
    env: Mapping[str, str], *, base: str | None = None, head: str | None = None
) -> CIContext:
    """The CI context from env, with explicit base/head (flags) taking precedence."""
    if env.get("GITHUB_ACTIONS") == "true":
        found = _github(env)
    elif env.get("GITLAB_CI") == "true":
        found = _gitlab(env)
    else:
        found = CIContext(Provider.LOCAL, base_ref=None, head_ref="HEAD")
    return CIContext(
        provider=found.provider,
        base_ref=base or found.base_ref,
        head_ref=head or found.head_ref,
        change_number=found.change_number,
        project=found.project,
        api_url=found.api_url,
    )


def _github(env: Mapping[str, str]) -> CIContext:
    event = _event_payload(env.get("GITHUB_EVENT_PATH"))
    found = event.get("pull_request")
    pull: dict[str, Any] = found if isinstance(found, dict) else {}
    base = _sha(pull.get("base")) or _origin(env.get("GITHUB_BASE_REF"))
    head = _sha(pull.get("head")) or env.get("GITHUB_SHA") or "HEAD"
    number = pull.get("number")
    return CIContext(
        Provider.GITHUB,
        base_ref=base,
        head_ref=head,
        change_number=number if isinstance(number, int) else None,
        project=env.get("GITHUB_REPOSITORY") or None,
        api_url=(env.get("GITHUB_API_URL") or "https://api.github.com").rstrip("/"),
    )


def _gitlab(env: Mapping[str, str]) -> CIContext:
    iid = env.get("CI_MERGE_REQUEST_IID", "")
    target = env.get("CI_MERGE_REQUEST_TARGET_BRANCH_NAME")
    return CIContext(
        Provider.GITLAB,
        base_ref=env.get("CI_MERGE_REQUEST_DIFF_BASE_SHA") or _origin(target),
        head_ref=env.get("CI_COMMIT_SHA") or "HEAD",
        change_number=int(iid) if iid.isdigit() else None,
        project=env.get("CI_PROJECT_ID") or None,
        api_url=(env.get("CI_API_V4_URL") or "").rstrip("/") or None,
    )


def _event_payload(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GitOpsError(f"GITHUB_EVENT_PATH names {path}, which does not exist") from None
    except ValueError as exc:
        raise GitOpsError(f"the GitHub event payload {path} is not valid JSON: {exc}") from None
    return data if isinstance(data, dict) else {}


def _sha(ref: Any) -> str | None:
    if isinstance(ref, dict) and isinstance(ref.get("sha"), str):
        return str(ref["sha"])
    return None


def _origin(branch: str | None) -> str | None:
    # CI checkouts have the target branch as a remote-tracking ref, not a local branch.
    return f"origin/{branch}" if branch else None
