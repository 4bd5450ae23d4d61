"""Generated infra repos: N small Terraform stacks (one SQS queue or SSM parameter each)
declared in gitops.yaml, committed to a fresh Git repo; and a stand-in engine that does
nothing (for the cost of a drift check outside Terraform)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from infra_gitops import process

_HEADER = """terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
  backend "s3" {}
}

provider "aws" {
  region = "us-east-1"
}
"""

_QUEUE = """
resource "aws_sqs_queue" "this" {
  name                       = "bench-@NAME@"
  visibility_timeout_seconds = 30
  tags                       = { stack = "@NAME@" }
}
"""

_PARAMETER = """
resource "aws_ssm_parameter" "this" {
  name  = "/bench/@NAME@"
  type  = "String"
  value = "value of @NAME@"
  tags  = { stack = "@NAME@" }
}
"""


def stack_names(count: int) -> list[str]:
    return [f"s{i:04d}" for i in range(count)]


def write_repo(root: Path, count: int, *, drift_interval: str = "1h") -> list[str]:
    """A Git repo at root declaring `count` stacks; returns their names.

    Policies: no auto-apply, no self-heal, so a pass plans every stack and changes
    nothing (the naive loop plans too: the same work on both sides).
    """
    names = stack_names(count)
    policy = f"{{drift_interval: {drift_interval}, auto_apply: false, self_heal: false}}"
    _write_stacks(root, names, policy, lambda _: None)
    return names


def write_drift_repo(root: Path, *, real: int, declared: int, noop_engine: Path) -> list[str]:
    """A Git repo declaring `declared` stacks, all auto-applied: the first `real` are
    sandbox stacks (as write_repo's), the others run `noop_engine` (binary:), so a pass
    over them costs almost nothing in Terraform. Returns the real stacks' names."""
    names = stack_names(declared)
    policy = "{drift_interval: 1h, auto_apply: true, self_heal: false}"
    _write_stacks(root, names, policy, lambda i: noop_engine if i >= real else None)
    return names[:real]


def _write_stacks(
    root: Path, names: list[str], policy: str, binary_of: Callable[[int], Path | None]
) -> None:
    """One small stack per name (an SQS queue or an SSM parameter, alternately), declared
    in gitops.yaml with the policy given; binary_of(i) is the i-th stack's `binary:`."""
    lines = ["version: 1", "defaults:", "  engine: terraform", f"  policy: {policy}", "stacks:"]
    for i, name in enumerate(names):
        stack_dir = root / "stacks" / name
        stack_dir.mkdir(parents=True)
        body = (_QUEUE if i % 2 == 0 else _PARAMETER).replace("@NAME@", name)
        (stack_dir / "main.tf").write_text(_HEADER + body)
        lines += [f"  - name: {name}", f"    path: stacks/{name}"]
        binary = binary_of(i)
        if binary is not None:
            lines.append(f"    binary: {binary}")
    (root / "gitops.yaml").write_text("\n".join(lines) + "\n")
    _commit(root)


_NOOP_ENGINE = """#!/bin/sh
# A stand-in `terraform` that does nothing and answers as Terraform does for a stack
# with no changes. Each call appends its command to @LOG@ (so calls can be counted).
echo "$1" >> '@LOG@'
case "$1" in
  plan)
    for arg in "$@"; do
      case "$arg" in -out=*) : > "${arg#-out=}" ;; esac
    done ;;
  show) echo '{"format_version":"1.2","terraform_version":"1.15.5","resource_changes":[]}' ;;
  output) echo '{}' ;;
  version) echo '{"terraform_version":"1.15.5"}' ;;
esac
exit 0
"""


def write_noop_engine(path: Path, calls_log: Path) -> Path:
    """An executable stand-in engine at path, logging its calls to calls_log."""
    path.write_text(_NOOP_ENGINE.replace("@LOG@", str(calls_log)))
    path.chmod(0o755)
    return path


def _commit(root: Path) -> None:
    env = {
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "bench@example.com",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@example.com",
        "PATH": "/usr/bin:/bin:/usr/local/bin",
    }
    for argv in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "add", "-A"],
        ["git", "commit", "-q", "-m", "generated stacks"],
    ):
        done = process.run(argv, cwd=root, env=env, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip()}")
