"""Helpers of the end-to-end tests: the real CLI as a process, git, boto3 on the sandbox."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import yaml

from infra_gitops import sandbox

PROJECT = Path(__file__).resolve().parents[2]
SECRET = "e2e-SecureString-7f3a9c1d2b"


@dataclass(frozen=True)
class CliResult:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@dataclass(frozen=True)
class Env:
    repo: Path
    state_dir: Path
    cloud: sandbox.SandboxInfo
    env: dict[str, str]

    def cli(self, *args: str, state_dir: Path | None = None, timeout: float = 240) -> CliResult:
        """Run the installed infra-gitops command as a user would."""
        state = state_dir or self.state_dir
        argv = [*cli_argv(), *args, "--repo", str(self.repo), "--state-dir", str(state)]
        done = subprocess.run(
            argv, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        return CliResult(done.returncode, done.stdout, done.stderr)

    def commit(self, message: str, author: str = "Alice Admin <alice@example.com>") -> str:
        git(self.repo, "add", "-A")
        name, email = author[:-1].split(" <")
        git(
            self.repo,
            "-c",
            f"user.name={name}",
            "-c",
            f"user.email={email}",
            "commit",
            "-q",
            "-m",
            message,
        )
        return git(self.repo, "rev-parse", "HEAD").strip()

    def aws(self, service: str) -> Any:
        return boto3.client(
            service,  # type: ignore[call-overload]
            endpoint_url=self.cloud.endpoint,
            region_name=self.cloud.region,
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )


def terraform_only(manifest: Path) -> str:
    """The manifest's text without its Pulumi stack entries (layout kept, so tests can
    edit it as text), checked to parse to the same manifest minus those stacks."""
    text = manifest.read_text()
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.startswith("  - name: ")]
    # An entry owns the comment lines just above it.
    starts = [_above_comments(lines, i) for i in starts]
    bounds = zip([0, *starts], [*starts, len(lines)], strict=True)
    entries = ["".join(lines[a:b]) for a, b in bounds]
    kept = "".join(e for e in entries if "engine: pulumi" not in e)
    expected = yaml.safe_load(text)
    expected["stacks"] = [s for s in expected["stacks"] if s.get("engine") != "pulumi"]
    assert yaml.safe_load(kept) == expected
    return kept


def _above_comments(lines: list[str], index: int) -> int:
    while index > 0 and lines[index - 1].startswith("  #"):
        index -= 1
    return index


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout


def cli_argv() -> list[str]:
    script = Path(sys.executable).parent / "infra-gitops"
    return [str(script)] if script.exists() else [sys.executable, "-m", "infra_gitops.cli"]


def bucket_name(e2e: Env) -> str:
    names = [b["Name"] for b in e2e.aws("s3").list_buckets()["Buckets"]]
    return next(n for n in names if n != e2e.cloud.state_bucket)


def tags(e2e: Env, bucket: str) -> dict[str, str]:
    tag_set = e2e.aws("s3").get_bucket_tagging(Bucket=bucket)["TagSet"]
    return {t["Key"]: t["Value"] for t in tag_set}
