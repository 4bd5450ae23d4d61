"""Latencies a person feels, through the real `infra-gitops` executable:

- push-to-apply by webhook: a real `infra-gitops daemon` following a bare remote of the
  example stacks (storage and app), polling only hourly; each sample changes a tag of the
  storage bucket, commits, pushes, sends the signed push webhook and times from the POST
  until boto3 sees the new tag on the bucket;
- wall time of `infra-gitops --help`, `status` and `history` on that daemon's state dir
  (records of the start-up pass and of every sample).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import boto3

from infra_gitops import sandbox
from infra_gitops.models import RunKind, RunStatus
from infra_gitops.runs import RunStore

T = TypeVar("T")
PROJECT = Path(__file__).resolve().parent.parent
WEBHOOK_SECRET = "bench-webhook-secret"
BUCKET = "demo-dev-artifacts"
MANIFEST = """\
version: 1
defaults:
  engine: terraform
  policy: {drift_interval: 1h, self_heal: true, auto_apply: true}
stacks:
  - name: storage
    path: stacks/storage
    variables: {name_prefix: demo, environment: dev}
  - name: app
    path: stacks/app
    variables:
      queue_url: {from_stack: storage, output: queue_url}
      db_password: {from_env: DEMO_DB_PASSWORD}
"""
_TAG_LINE = '    stack       = "storage"'


@dataclass(frozen=True)
class Latencies:
    push_to_apply_s: list[float]
    commands_s: dict[str, list[float]]


def measure(root: Path, info: sandbox.SandboxInfo, *, samples: int, cli_samples: int) -> Latencies:
    remote, work, state_dir = _example_repo(root, info)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_"))}
    env |= {
        "INFRA_GITOPS_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "DEMO_DB_PASSWORD": "bench-db-password",
        "PYTHONPATH": str(PROJECT),
    }
    s3 = boto3.client(
        "s3",
        endpoint_url=info.endpoint,
        region_name=info.region,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    first = _commit_and_push(work, "the example stacks")
    with _daemon(remote, state_dir, env, root / "daemon.log") as url:
        _wait("the start-up pass", lambda: _pass_done(url, state_dir, first), 300)
        if not _applied(state_dir, first, "storage", "app"):
            raise RuntimeError("the start-up pass did not apply both example stacks")
        latencies = [_one_push(work, state_dir, url, s3, i) for i in range(samples)]
    commands = {
        "--help": ["--help"],
        "status": ["status", "--repo", str(work), "--state-dir", str(state_dir)],
        "history": ["history", "--state-dir", str(state_dir)],
    }
    times = {name: _time_cli(argv, env, cli_samples) for name, argv in commands.items()}
    return Latencies(latencies, times)


def _one_push(work: Path, state_dir: Path, url: str, s3: Any, sample: int) -> float:
    storage = work / "stacks" / "storage" / "main.tf"
    text = storage.read_text()
    text = re.sub(r'\n    bench       = "\d+"', "", text)
    storage.write_text(text.replace(_TAG_LINE, f'{_TAG_LINE}\n    bench       = "{sample}"', 1))
    sha = _commit_and_push(work, f"tag the bucket: bench={sample}")
    body = json.dumps({"ref": "refs/heads/main", "after": sha, "pusher": {"name": "bench"}})
    signature = hmac.new(WEBHOOK_SECRET.encode(), body.encode(), hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        url + "/webhook",
        data=body.encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-GitHub-Event": "push",
            "X-Hub-Signature-256": f"sha256={signature}",
        },
    )
    started = time.monotonic()
    with urllib.request.urlopen(request, timeout=10) as response:
        if response.status != 202:
            raise RuntimeError(f"the webhook answered {response.status}")
    _wait(f"bench={sample} on the bucket", lambda: _tags(s3).get("bench") == str(sample), 120)
    elapsed = time.monotonic() - started
    # The next sample starts on an idle daemon: this pass is over (its records written,
    # its status reported; /healthz names the head of the last finished pass), else the
    # next sample's time would include the end of this one.
    _wait(f"the pass over {sha[:10]}", lambda: _pass_done(url, state_dir, sha), 120)
    return elapsed


def _pass_done(url: str, state_dir: Path, sha: str) -> bool:
    with urllib.request.urlopen(url + "/healthz", timeout=10) as response:
        health = json.loads(response.read())
    return health.get("head") == sha and _applied(state_dir, sha, "storage")


def _time_cli(args: list[str], env: dict[str, str], samples: int) -> list[float]:
    times = []
    for _ in range(samples):
        started = time.monotonic()
        done = subprocess.run(
            [*_cli_argv(), *args], env=env, capture_output=True, text=True, check=False
        )
        times.append(time.monotonic() - started)
        if done.returncode != 0:
            raise RuntimeError(f"infra-gitops {args[0]} exited {done.returncode}: {done.stderr}")
        if args[0] in ("status", "history") and "storage" not in done.stdout:
            raise RuntimeError(f"infra-gitops {args[0]} does not list the stacks: {done.stdout}")
    return times


def _cli_argv() -> list[str]:
    script = Path(sys.executable).parent / "infra-gitops"
    return [str(script)] if script.exists() else [sys.executable, "-m", "infra_gitops.cli"]


def _example_repo(root: Path, info: sandbox.SandboxInfo) -> tuple[Path, Path, Path]:
    """(bare remote, working clone with the example stacks, state dir on the sandbox)."""
    remote, work, state_dir = root / "remote.git", root / "work", root / "state"
    root.mkdir(parents=True)
    _git(root, "init", "-q", "--bare", "--initial-branch=main", str(remote))
    work.mkdir()
    (work / "gitops.yaml").write_text(MANIFEST)
    for name in ("storage", "app"):
        shutil.copytree(PROJECT / "stacks" / name, work / "stacks" / name)
    _git(work, "init", "-q", "--initial-branch=main")
    _git(work, "remote", "add", "origin", str(remote))
    state_dir.mkdir()
    sandbox.sandbox_dir(state_dir).symlink_to(sandbox.sandbox_dir(info.state_dir))
    return remote, work, state_dir


def _commit_and_push(work: Path, message: str) -> str:
    _git(work, "add", "-A")
    _git(
        work,
        "-c",
        "user.name=bench",
        "-c",
        "user.email=bench@example.com",
        "commit",
        "-qm",
        message,
    )
    _git(work, "push", "-q", "origin", "HEAD:main")
    return _git(work, "rev-parse", "HEAD").strip()


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


@contextlib.contextmanager
def _daemon(remote: Path, state_dir: Path, env: dict[str, str], log_file: Path) -> Iterator[str]:
    """A real daemon polling hourly; yields its URL; kills it and its process group."""
    argv = [
        *_cli_argv(),
        "daemon",
        "--repo",
        str(remote),
        "--state-dir",
        str(state_dir),
        "--poll-interval",
        "3600",
        "--listen",
        "127.0.0.1:0",
    ]
    with log_file.open("wb") as log:
        proc = subprocess.Popen(
            argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:

        def serving() -> str | None:
            if proc.poll() is not None:
                raise RuntimeError(f"the daemon exited: {log_file.read_text()[-2000:]}")
            found = re.search(r"serving on (http://\S+)", log_file.read_text(errors="replace"))
            return found.group(1) if found else None

        yield _wait("the daemon to listen", serving, 60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _applied(state_dir: Path, sha: str, *stacks: str) -> bool:
    if not (state_dir / "runs.db").exists():
        return False
    with RunStore.open(state_dir) as store:
        runs = store.list(commit=sha, kind=RunKind.APPLY, limit=None)
    failed = [r for r in runs if r.status is RunStatus.FAILED]
    if failed:
        raise RuntimeError(f"{failed[0].stack}: apply of {sha[:10]} failed: {failed[0].error}")
    done = {r.stack for r in runs if r.status in (RunStatus.APPLIED, RunStatus.NO_CHANGES)}
    return set(stacks) <= done


def _tags(s3: Any) -> dict[str, str]:
    try:
        tag_set = s3.get_bucket_tagging(Bucket=BUCKET)["TagSet"]
    except s3.exceptions.ClientError:
        return {}
    return {t["Key"]: t["Value"] for t in tag_set}


def _wait(what: str, check: Callable[[], T | None], timeout: float) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.02)
