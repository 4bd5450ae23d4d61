"""Helpers of the replica tests: replicas of `infra-gitops daemon` on one database (each
its own state dir on the shared sandbox), and the records as PostgreSQL holds them."""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from daemon_helpers import DaemonProc, World, wait_for
from psycopg.rows import dict_row

from infra_gitops import sandbox
from infra_gitops.postgres import DATABASE_URL_ENV

WEBHOOK_SECRET = "replica-webhook-secret"


@dataclass(frozen=True)
class RunRow:
    id: str
    stack: str
    kind: str
    status: str
    commit_sha: str
    started: datetime
    finished: datetime | None
    owner_pid: int
    error: str | None


class Replicas:
    """Replicas of one World on the database url (given through the environment, as a
    user would: never on the command line)."""

    def __init__(self, world: World, url: str) -> None:
        self.world = world
        self.url = url
        world.env[DATABASE_URL_ENV] = url
        world.env["INFRA_GITOPS_WEBHOOK_SECRET"] = WEBHOOK_SECRET

    def start(self, name: str, *extra: str) -> DaemonProc:
        state_dir = self.world.state_dir.parent / f"state-{name}"
        if not state_dir.exists():
            state_dir.mkdir()
            (state_dir / "sandbox").symlink_to(sandbox.sandbox_dir(self.world.cloud.state_dir))
        return self.world.start_daemon(*extra, state_dir=state_dir)

    def runs(self, **where: str) -> list[RunRow]:
        clauses = " AND ".join(f"{column} = %s" for column in where) or "TRUE"
        with psycopg.connect(self.url, row_factory=dict_row) as conn:
            try:
                rows = conn.execute(
                    "SELECT id, stack, kind, status, commit_sha, started_at, finished_at, "
                    f"owner_pid, error FROM runs WHERE {clauses} ORDER BY started_at",
                    tuple(where.values()),
                ).fetchall()
            except psycopg.errors.UndefinedTable:
                return []  # no replica has opened the store yet
        return [
            RunRow(
                r["id"],
                r["stack"],
                r["kind"],
                r["status"],
                r["commit_sha"],
                datetime.fromisoformat(r["started_at"]),
                datetime.fromisoformat(r["finished_at"]) if r["finished_at"] else None,
                r["owner_pid"],
                r["error"],
            )
            for r in rows
        ]

    def jobs(self) -> list[dict[str, Any]]:
        with psycopg.connect(self.url, row_factory=dict_row) as conn:
            return conn.execute("SELECT * FROM jobs ORDER BY id").fetchall()

    def applied_once(self, sha: str, *stacks: str) -> bool:
        """Each stack has an applied apply run at sha (the caller checks that it is the
        only one)."""
        runs = self.runs(commit_sha=sha, kind="apply")
        return all(any(r.stack == s and r.status == "applied" for r in runs) for s in stacks)

    def leader(self, *daemons: DaemonProc) -> DaemonProc:
        def leading() -> DaemonProc | None:
            found = [d for d in daemons if d.get("/healthz")[1].get("leader")]
            return found[0] if len(found) == 1 else None

        return wait_for("one replica leading", leading, timeout=60)


def no_overlaps(runs: list[RunRow]) -> list[tuple[str, str]]:
    """Pairs of runs of one stack whose [started, finished] intervals overlap."""
    clashes = []
    by_stack: dict[str, list[RunRow]] = {}
    for run in runs:
        by_stack.setdefault(run.stack, []).append(run)
    for stack_runs in by_stack.values():
        ordered = sorted(stack_runs, key=lambda r: r.started)
        for before, after in zip(ordered, ordered[1:], strict=False):
            if before.finished is None or after.started < before.finished:
                clashes.append((before.id, after.id))
    return clashes


def post_push(daemon: DaemonProc, sha: str) -> int:
    body = json.dumps({"ref": "refs/heads/main", "after": sha, "pusher": {"name": "alice"}})
    data = body.encode()
    signature = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), data, hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        daemon.url + "/webhook",
        data=data,
        headers={
            "Content-Type": "application/json",
            "X-GitHub-Event": "push",
            "X-Hub-Signature-256": signature,
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def state_unlocked(world: World) -> bool:
    listing = world.aws("s3").list_objects_v2(Bucket=world.cloud.state_bucket).get("Contents", [])
    return not any(o["Key"].endswith(".tflock") for o in listing)


def log_dir(world: World) -> Path:
    return world.state_dir.parent


def metrics_text(daemon: DaemonProc) -> str:
    with urllib.request.urlopen(daemon.url + "/metrics", timeout=10) as response:
        return response.read().decode()
