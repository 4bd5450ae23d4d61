"""Daemon replicas as real processes for the replicas bench: `infra-gitops daemon
--database-url ... --state-dir ... --repo REMOTE`, one process per replica, each with its
own state dir, all of a repo on that repo's database; started, asked for readiness and
leadership over HTTP, sent signed push webhooks, killed with SIGKILL (with their engine
processes, as when a machine or pod dies) and restarted."""

from __future__ import annotations

import contextlib
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
from functools import partial
from pathlib import Path
from typing import TypeVar

from infra_gitops.web.webhook import sign

T = TypeVar("T")
PROJECT = Path(__file__).resolve().parent.parent
WEBHOOK_SECRET = "bench-webhook-secret"


@dataclass
class Replica:
    name: str
    repo: str
    remote: str
    database_url: str
    state_dir: Path
    log_file: Path
    args: tuple[str, ...]
    proc: subprocess.Popen[bytes] | None = None
    url: str = ""
    starts: int = 0


@dataclass
class Fleet:
    """Every replica process the bench started; stop() ends those still running."""

    root: Path
    env: dict[str, str]
    replicas: list[Replica] = field(default_factory=list)
    killed_at: dict[int, float] = field(default_factory=dict)
    """Pids the bench SIGKILLed (replicas and their engines) -> when (time.time())."""

    def add(
        self, name: str, repo: str, remote: str, database_url: str, args: tuple[str, ...]
    ) -> Replica:
        replica = Replica(
            name=name,
            repo=repo,
            remote=remote,
            database_url=database_url,
            state_dir=self.root / "state" / name,
            log_file=self.root / "logs" / f"{name}.log",
            args=args,
        )
        replica.state_dir.mkdir(parents=True, exist_ok=True)
        replica.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.replicas.append(replica)
        return replica

    def start(self, *replicas: Replica) -> None:
        """Start (or restart, on the same state dir) these replicas at once, and wait
        until each serves HTTP."""
        offsets = [self._launch(replica) for replica in replicas]
        for replica, offset in zip(replicas, offsets, strict=True):
            replica.url = wait_for(
                f"replica {replica.name} to listen", partial(_serving, replica, offset), 180
            )

    def _launch(self, replica: Replica) -> int:
        """Start the process; returns where its log of this start begins."""
        argv = [
            *_cli_argv(),
            "daemon",
            "--repo",
            replica.remote,
            "--state-dir",
            str(replica.state_dir),
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            *replica.args,
        ]
        # The URL (with its password) through the environment, never on argv.
        env = self.env | {"INFRA_GITOPS_DATABASE_URL": replica.database_url}
        with replica.log_file.open("ab") as log:
            log.write(f"--- start {replica.starts + 1}\n".encode())
            log.flush()
            offset = log.tell()
            replica.proc = subprocess.Popen(
                argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        replica.starts += 1
        return offset

    def kill(self, replica: Replica) -> int:
        """SIGKILL the replica and every process under it (its engines), as when its
        machine dies; returns how many processes were killed."""
        proc = replica.proc
        if proc is None or proc.poll() is not None:
            return 0
        # Freeze the tree first (no process forks a new engine between our listing
        # and the kill), then kill all of it at once.
        victims: list[int] = []
        frozen = -1
        while len(victims) != frozen:
            frozen = len(victims)
            victims = [proc.pid, *descendants(proc.pid)]
            for pid in victims:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGSTOP)
        at = time.time()
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            self.killed_at[pid] = at
        proc.wait(timeout=30)
        return len(victims)

    def stop(self, replicas: list[Replica] | None = None, grace: float = 30.0) -> None:
        """SIGTERM (a drain), then SIGKILL what is left after `grace` seconds."""
        chosen = self.replicas if replicas is None else replicas
        running = [r for r in chosen if r.proc is not None and r.proc.poll() is None]
        for replica in running:
            assert replica.proc is not None
            with contextlib.suppress(ProcessLookupError):
                os.killpg(replica.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for replica in running:
            assert replica.proc is not None
            try:
                replica.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                for pid in [replica.proc.pid, *descendants(replica.proc.pid)]:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                replica.proc.wait()

    def health(self, replica: Replica) -> dict[str, object] | None:
        try:
            with urllib.request.urlopen(replica.url + "/healthz", timeout=5) as response:
                loaded = json.loads(response.read())
        except (OSError, ValueError):
            return None
        return loaded if isinstance(loaded, dict) else None

    def ready(self, replica: Replica) -> bool:
        try:
            with urllib.request.urlopen(replica.url + "/readyz", timeout=5) as response:
                return bool(response.status == 200)
        except (OSError, urllib.error.HTTPError):
            return False

    def leader(self, replicas: list[Replica]) -> Replica | None:
        for replica in replicas:
            if replica.proc is not None and replica.proc.poll() is None:
                health = self.health(replica)
                if health and health.get("leader") is True:
                    return replica
        return None

    def send_push(self, replica: Replica, sha: str) -> None:
        """The signed push webhook GitHub would send, to this replica."""
        body = json.dumps(
            {"ref": "refs/heads/main", "after": sha, "pusher": {"name": "bench"}}
        ).encode()
        request = urllib.request.Request(
            replica.url + "/webhook",
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "X-GitHub-Event": "push",
                "X-Hub-Signature-256": sign(WEBHOOK_SECRET.encode(), body),
            },
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            if response.status != 202:
                raise RuntimeError(f"the webhook of {replica.name} answered {response.status}")


def _serving(replica: Replica, offset: int) -> str | None:
    """The replica's URL once its log (of this start) says it serves."""
    text = replica.log_file.read_bytes()[offset:].decode(errors="replace")
    if replica.proc is not None and replica.proc.poll() is not None:
        raise RuntimeError(f"replica {replica.name} exited: {text[-3000:]}")
    found = re.search(r"serving on (http://[^\s\"]+)", text)
    return found.group(1) if found else None


def replica_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The replicas' environment: the bench's, without AWS/Terraform settings (the
    sandbox, when used, comes from the state dir), this tree's code, the webhook secret."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_", "PG"))}
    env.pop("INFRA_GITOPS_DATABASE_URL", None)
    env |= {
        "INFRA_GITOPS_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "PYTHONPATH": str(PROJECT),
        "CHECKPOINT_DISABLE": "1",
    }
    return env | (extra or {})


def wait_for(what: str, check: Callable[[], T | None], timeout: float, every: float = 0.1) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)


def _cli_argv() -> list[str]:
    script = Path(sys.executable).parent / "infra-gitops"
    return [str(script)] if script.exists() else [sys.executable, "-m", "infra_gitops.cli"]


def descendants(pid: int) -> list[int]:
    """Every process under pid (from /proc: engines run in their own process groups, so
    killing the replica's group would leave them)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found
