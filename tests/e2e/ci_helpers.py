"""Helpers of the end-to-end CI tests: a repo with three stacks, a feature branch, the
GitHub Actions environment, the stand-in GitHub API (tests/ci/ci_standin.py)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from e2e_helpers import Env, git

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ci"))
from ci_standin import StandinState, standin_api  # noqa: E402

__all__ = ["StandinState", "standin_api"]

MANIFEST = """\
version: 1
stacks:
  - name: storage
    path: stacks/storage
    tags: [prod]
    variables:
      name_prefix: demo
      environment: dev
  - name: app
    path: stacks/app
    variables:
      queue_url: {from_stack: storage, output: queue_url}
      db_password: {from_env: DEMO_DB_PASSWORD}
  - name: logs
    path: stacks/logs
    tags: [prod]
policies:
  - name: no-prod-deletes
    deny: [delete, replace]
    stacks: {tags: [prod]}
"""

AWS_STACK_HEADER = """\
terraform {
  required_providers {
    aws = { source = "hashicorp/aws" }
  }
  backend "s3" {}
}

provider "aws" {
  region = "us-east-1"
}
"""
"""The start of a small Terraform stack on hashicorp/aws (the sandbox serves it)."""

LOGS_STACK = (
    AWS_STACK_HEADER
    + """
resource "aws_s3_bucket" "logs" {
  bucket = "ci-logs"
  tags   = { stack = "logs" }
}

resource "aws_s3_bucket" "archive" {
  bucket = "ci-logs-archive"
  tags   = { stack = "logs" }
}
"""
)

PR_NUMBER = 7


def three_stacks(e2e: Env) -> str:
    """storage (tagged prod), app (needs storage), logs (tagged prod, two buckets) and the
    no-prod-deletes rule, committed on main; returns the commit."""
    (e2e.repo / "gitops.yaml").write_text(MANIFEST)
    (e2e.repo / "stacks" / "logs").mkdir()
    (e2e.repo / "stacks" / "logs" / "main.tf").write_text(LOGS_STACK)
    return e2e.commit("Three stacks and a policy")


def feature_branch(e2e: Env, name: str = "feature") -> None:
    git(e2e.repo, "checkout", "-q", "-b", name)


def edit(e2e: Env, rel: str, old: str, new: str) -> None:
    path = e2e.repo / rel
    text = path.read_text()
    assert old in text, (rel, old)
    path.write_text(text.replace(old, new))


def github_actions_env(
    e2e: Env, api_url: str, base: str, head: str, tmp: Path, *, token: str | None
) -> dict[str, str]:
    """The variables GitHub Actions sets for a pull_request event, plus the event file."""
    event = tmp / "event.json"
    event.write_text(
        json.dumps(
            {
                "pull_request": {
                    "number": PR_NUMBER,
                    "base": {"sha": base, "ref": "main"},
                    "head": {"sha": head, "ref": "feature"},
                }
            }
        )
    )
    env = {
        **e2e.env,
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_BASE_REF": "main",
        "GITHUB_HEAD_REF": "feature",
        "GITHUB_SHA": head,
        "GITHUB_REPOSITORY": "acme/infra",
        "GITHUB_API_URL": api_url,
        "GITHUB_STEP_SUMMARY": str(tmp / "step-summary.md"),
    }
    if token is not None:
        env["GITHUB_TOKEN"] = token
    return env


def normalized(markdown: str) -> str:
    """The report with what changes from run to run replaced: run ids, SHAs, hashes."""
    text = re.sub(r"\b\d{8}T\d{6}Z-[0-9a-f]{6}\b", "RUN_ID", markdown)
    text = re.sub(r"sha256:[0-9a-f]{16}", "sha256:PLAN_HASH", text)
    return re.sub(r"`[0-9a-f]{10}`", "`SHA`", text)
