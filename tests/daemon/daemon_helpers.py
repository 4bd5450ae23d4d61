"""Helpers of the daemon tests: a real `infra-gitops daemon` process following a local
bare repo, the infra repo's working clone, boto3 and the run records."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import boto3

from infra_gitops import sandbox
from infra_gitops.daemon.contracts import StackView
from infra_gitops.daemon.status import stack_views
from infra_gitops.models import Run
from infra_gitops.runs import RunStore

PROJECT = Path(__file__).resolve().parents[2]
SECRET = "daemon-SecureString-4b1e9a"
T = TypeVar("T")

MANIFEST = """\
version: 1
defaults:
  engine: terraform
  policy: {drift_interval: 5m, self_heal: true, auto_apply: true}
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


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout


def cli_argv() -> list[str]:
    script = Path(sys.executable).parent / "infra-gitops"
    return [str(script)] if script.exists() else [sys.executable, "-m", "infra_gitops.cli"]


def wait_for(what: str, check: Callable[[], T | None], timeout: float = 60) -> T:
    """Poll check until it returns something truthy; fail naming what was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


READS_ARTIFACTS_BUCKET = """
variable "artifacts_bucket" {
  type = string
}

resource "aws_ssm_parameter" "artifacts_bucket" {
  name  = "/demo/dev/artifacts_bucket"
  type  = "String"
  value = var.artifacts_bucket
}
"""
"""app's SSM parameter holding storage's `artifacts_bucket` output (storage has no such
output until a test adds it)."""


@dataclass
class World:
    """A bare remote, a working clone pushing to it, a state dir on the sandbox."""

    remote: Path
    work: Path
    state_dir: Path
    cloud: sandbox.SandboxInfo
    env: dict[str, str]
    daemons: list[DaemonProc] = field(default_factory=list)

    def commit_and_push(self, message: str) -> str:
        git(self.work, "add", "-A")
        git(
            self.work,
            "-c",
            "user.name=Alice Admin",
            "-c",
            "user.email=alice@example.com",
            "commit",
            "-q",
            "-m",
            message,
        )
        git(self.work, "push", "-q", "origin", "HEAD:main")
        return git(self.work, "rev-parse", "HEAD").strip()

    def edit(self, rel: str, old: str, new: str) -> None:
        path = self.work / rel
        text = path.read_text()
        assert old in text, f"{old!r} not in {rel}"
        path.write_text(text.replace(old, new, 1))

    def start_daemon(self, *extra: str, state_dir: Path | None = None) -> DaemonProc:
        proc = DaemonProc.start(self, state_dir or self.state_dir, extra)
        self.daemons.append(proc)
        return proc

    def cli(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*cli_argv(), *args, "--state-dir", str(self.state_dir)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def aws(self, service: str) -> Any:
        return boto3.client(
            service,  # type: ignore[call-overload]
            endpoint_url=self.cloud.endpoint,
            region_name=self.cloud.region,
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )

    def bucket_tags(self) -> dict[str, str]:
        tag_set = self.aws("s3").get_bucket_tagging(Bucket="demo-dev-artifacts")["TagSet"]
        return {t["Key"]: t["Value"] for t in tag_set}

    # ------------------------------------------------------------ records

    def runs(self, **filters: Any) -> list[Run]:
        if not (self.state_dir / "runs.db").exists():
            return []
        with RunStore.open(self.state_dir) as store:
            return store.list(limit=None, **filters)

    def views(self) -> dict[str, StackView]:
        if not (self.state_dir / "runs.db").exists():
            return {}
        with RunStore.open(self.state_dir) as store:
            return {v.name: v for v in stack_views(store)}

    def synced_at(self, sha: str, *stacks: str) -> bool:
        views = self.views()
        return all(
            s in views and views[s].applied_commit == sha and str(views[s].status) == "Synced"
            for s in stacks
        )


@dataclass
class DaemonProc:
    proc: subprocess.Popen[bytes]
    log_file: Path

    @classmethod
    def start(cls, world: World, state_dir: Path, extra: tuple[str, ...]) -> DaemonProc:
        log_file = state_dir.parent / f"daemon-{len(world.daemons)}.log"
        argv = [
            *cli_argv(),
            "daemon",
            "--repo",
            str(world.remote),
            "--state-dir",
            str(state_dir),
            "--poll-interval",
            "1",
            "--listen",
            "127.0.0.1:0",
            # These tests read /api/stacks and /metrics as before authentication came;
            # tests/web/ starts daemons with it on.
            *(() if "--auth" in extra else ("--no-auth",)),
            *(a for a in extra if a != "--auth"),
        ]
        with open(log_file, "wb") as log:
            proc = subprocess.Popen(
                argv, env=world.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        return cls(proc, log_file)

    @property
    def log(self) -> str:
        return self.log_file.read_text(errors="replace")

    @property
    def url(self) -> str:
        def found() -> str | None:
            assert self.proc.poll() is None, f"the daemon exited:\n{self.log}"
            match = re.search(r"serving on (http://\S+)", self.log)
            return match.group(1) if match else None

        return wait_for("the daemon to listen", found, timeout=30)

    def get(self, path: str) -> tuple[int, dict[str, Any]]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def signal(self, sig: signal.Signals) -> None:
        os.kill(self.proc.pid, sig)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)

    def kill_all(self) -> None:
        """Teardown: the daemon and everything it started."""
        # The group too: engine commands a SIGKILLed daemon left behind.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)


def kill_engine_processes(under: Path) -> None:
    """Teardown: the engine commands still working under a test's dir. Each runs in its own
    process group (the daemon's kill does not reach them); left alone, one would go on
    into the next test's emptied cloud and take a state lock there."""
    marker = f"TF_DATA_DIR={under}/".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue  # gone, or not ours
        if marker in environ:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(entry.name), signal.SIGKILL)


def daemon_fixtures() -> Any:
    """The daemon tests' conftest as a module, for another test folder to take its
    fixtures (daemon_cloud, world) from: reused, not copied."""
    spec = importlib.util.spec_from_file_location(
        "daemon_conftest", Path(__file__).resolve().parent / "conftest.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
