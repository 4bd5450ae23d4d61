"""Saved plans kept between `ci plan` and `apply --from-plan`: on local disk or in S3.

Keyed by head SHA, stack and plan hash (sha256 of the saved plan file):
    <root>/<sha>/<stack>/<plan hash>/meta.json    what was planned (redacted), fingerprint
    <root>/<sha>/<stack>/<plan hash>/plan.json    Terraform's JSON plan, redacted
    <root>/<sha>/<stack>/<plan hash>/plan.tfplan  the saved plan file (only with changes)
    <root>/<sha>/<stack>/<plan hash>/applied.json once applied (the plan file is gone then)
    <root>/by-tree/<tree SHA>.json                 the planned commit of that file tree
A new plan of the same stack at the same SHA (a CI re-run) replaces the older one: the
last plan is the one the pull request comment shows.

The saved plan file holds the stack's variable values, secrets included, in clear (that
is how Terraform applies it later): owner-only files locally, server-side encryption in
S3. Nothing else stored here holds a secret.

After a squash or rebase merge, main's new commit is not the planned one, but when the
pull request was up to date its file tree is the same: the by-tree index finds the plans
(each stack's code fingerprint is checked again before anything is applied).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from infra_gitops.errors import GitOpsError
from infra_gitops.workspace import Target

META = "meta.json"
PLAN_JSON = "plan.json"
PLAN_FILE = "plan.tfplan"
APPLIED = "applied.json"
BY_TREE = "by-tree"


@dataclass(frozen=True)
class StoredPlan:
    """What is known about one stored plan without its (secret-bearing) plan file."""

    stack: str
    sha: str
    plan_hash: str
    fingerprint: str
    """stack_fingerprint() of the stack's code when it was planned."""
    created_at: str
    has_changes: bool
    run_id: str | None = None
    violations: tuple[str, ...] = ()
    """Policy violations found in this plan; such a plan is never applied."""
    plan: dict[str, Any] = field(default_factory=dict)
    """report.plan_to_dict() of the plan: redacted."""
    applied: dict[str, Any] | None = None
    """{"at": ..., "run_id": ...} once the plan was applied (read from applied.json)."""
    mock_outputs: tuple[str, ...] = ()
    """"STACK.OUTPUT" of each dependency output planned with its mock value: such a plan
    is never applied (`apply --from-plan` refuses it)."""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> StoredPlan:
        data = json.loads(text)
        data["violations"] = tuple(data.get("violations", ()))
        data["mock_outputs"] = tuple(data.get("mock_outputs", ()))
        return cls(**data)

    def with_applied(self, text: str | None) -> StoredPlan:
        return self if text is None else replace(self, applied=json.loads(text))


def applied_record(run_id: str | None) -> bytes:
    at = datetime.now(UTC).isoformat(timespec="seconds")
    return json.dumps({"at": at, "run_id": run_id}, sort_keys=True).encode()


def tree_record(sha: str) -> bytes:
    return json.dumps({"sha": sha}).encode()


def planned_commit(text: str) -> str | None:
    sha = json.loads(text).get("sha")
    return sha if isinstance(sha, str) else None


class PlanStore(Protocol):
    def describe(self) -> str:
        """Where plans are stored, for messages."""

    def put(self, meta: StoredPlan, plan_file: Path | None, plan_json: Path | None) -> None:
        """Store a plan, replacing older plans of the same stack at the same SHA."""

    def stacks(self, sha: str) -> list[str]:
        """Stacks with a stored plan at sha."""

    def get(self, sha: str, stack: str) -> StoredPlan | None:
        """The plan stored for stack at sha, if any."""

    def fetch_plan_file(self, meta: StoredPlan, dest: Path) -> bool:
        """Copy the saved plan file to dest (owner-only); False when it is not there."""

    def mark_applied(self, meta: StoredPlan, run_id: str | None) -> None:
        """Record that the plan was applied, then remove its saved file: it cannot be
        applied twice, and a re-run of the merge job can say it was done."""

    def index_tree(self, tree: str, sha: str) -> None:
        """Remember that sha (whose plans are stored) has the file tree `tree`."""

    def commit_of_tree(self, tree: str) -> str | None:
        """The planned commit last indexed with the file tree `tree`, if any."""


def open_store(where: str, *, s3_client: Callable[[], Any]) -> PlanStore:
    """A local directory, or s3://bucket/prefix (s3_client builds the boto3 client)."""
    if where.startswith("s3://"):
        url = urlparse(where)
        if not url.netloc:
            raise GitOpsError(f"plan store {where!r}: expected s3://BUCKET[/PREFIX]")
        return S3PlanStore(s3_client(), url.netloc, url.path.strip("/"))
    if "://" in where:
        raise GitOpsError(f"plan store {where!r}: expected a directory or s3://BUCKET[/PREFIX]")
    return LocalPlanStore(Path(where))


def _check_key(kind: str, value: str) -> str:
    # Each part becomes a path segment: no separators, no dot-dot.
    if not value or "/" in value or "\\" in value or value in {".", ".."}:
        raise GitOpsError(f"plan store: invalid {kind} {value!r}")
    return value


class LocalPlanStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def describe(self) -> str:
        return str(self.root)

    def put(self, meta: StoredPlan, plan_file: Path | None, plan_json: Path | None) -> None:
        stack_dir = self._stack_dir(meta.sha, meta.stack)
        target = stack_dir / _check_key("plan hash", meta.plan_hash)
        shutil.rmtree(target, ignore_errors=True)
        _private_dirs(target)
        if plan_file is not None:
            _write_private(target / PLAN_FILE, plan_file.read_bytes())
        if plan_json is not None:
            _write_private(target / PLAN_JSON, plan_json.read_bytes())
        # meta.json last: a plan without it is incomplete and ignored.
        _write_private(target / META, meta.to_json().encode())
        for other in stack_dir.iterdir():
            if other != target:
                shutil.rmtree(other, ignore_errors=True)

    def stacks(self, sha: str) -> list[str]:
        sha_dir = self.root / _check_key("SHA", sha)
        if not sha_dir.is_dir():
            return []
        return sorted(p.name for p in sha_dir.iterdir() if self.get(sha, p.name) is not None)

    def get(self, sha: str, stack: str) -> StoredPlan | None:
        stack_dir = self._stack_dir(sha, stack)
        metas = sorted(stack_dir.glob(f"*/{META}")) if stack_dir.is_dir() else []
        found = [StoredPlan.from_json(m.read_text(encoding="utf-8")) for m in metas]
        if not found:
            return None
        latest = max(found, key=lambda m: m.created_at)
        applied = stack_dir / latest.plan_hash / APPLIED
        return latest.with_applied(applied.read_text("utf-8") if applied.is_file() else None)

    def fetch_plan_file(self, meta: StoredPlan, dest: Path) -> bool:
        source = self._stack_dir(meta.sha, meta.stack) / meta.plan_hash / PLAN_FILE
        if not source.is_file():
            return False
        _write_private(dest, source.read_bytes())
        return True

    def mark_applied(self, meta: StoredPlan, run_id: str | None) -> None:
        plan_dir = self._stack_dir(meta.sha, meta.stack) / meta.plan_hash
        _write_private(plan_dir / APPLIED, applied_record(run_id))
        (plan_dir / PLAN_FILE).unlink(missing_ok=True)

    def index_tree(self, tree: str, sha: str) -> None:
        _write_private(self._tree_file(tree), tree_record(sha))

    def commit_of_tree(self, tree: str) -> str | None:
        path = self._tree_file(tree)
        return planned_commit(path.read_text("utf-8")) if path.is_file() else None

    def _tree_file(self, tree: str) -> Path:
        return self.root / BY_TREE / f"{_check_key('tree', tree)}.json"

    def _stack_dir(self, sha: str, stack: str) -> Path:
        return self.root / _check_key("SHA", sha) / _check_key("stack", stack)


class S3PlanStore:
    def __init__(self, client: Any, bucket: str, prefix: str, *, noun: str = "plan store") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.noun = noun
        """What errors call it (the run store keeps artifacts through it too)."""

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def put(self, meta: StoredPlan, plan_file: Path | None, plan_json: Path | None) -> None:
        base = self._key(meta.sha, meta.stack, _check_key("plan hash", meta.plan_hash))
        stale = [k for k in self._keys(self._key(meta.sha, meta.stack)) if not k.startswith(base)]
        if plan_file is not None:
            self._put(f"{base}/{PLAN_FILE}", plan_file.read_bytes())
        if plan_json is not None:
            self._put(f"{base}/{PLAN_JSON}", plan_json.read_bytes())
        self._put(f"{base}/{META}", meta.to_json().encode())
        for key in stale:
            self._delete(key)

    def stacks(self, sha: str) -> list[str]:
        keys = self._keys(self._key(_check_key("SHA", sha)))
        names = {k.split("/")[-3] for k in keys if k.endswith("/" + META)}
        return sorted(names)

    def get(self, sha: str, stack: str) -> StoredPlan | None:
        keys = self._keys(self._key(sha, stack))
        found = [
            StoredPlan.from_json(self._read(k).decode()) for k in keys if k.endswith("/" + META)
        ]
        if not found:
            return None
        latest = max(found, key=lambda m: m.created_at)
        applied = f"{self._key(sha, stack, latest.plan_hash)}/{APPLIED}"
        return latest.with_applied(self._read(applied).decode() if applied in keys else None)

    def fetch_plan_file(self, meta: StoredPlan, dest: Path) -> bool:
        key = f"{self._key(meta.sha, meta.stack, meta.plan_hash)}/{PLAN_FILE}"
        if not self._exists(key):
            return False
        _write_private(dest, self._read(key))
        return True

    def mark_applied(self, meta: StoredPlan, run_id: str | None) -> None:
        base = self._key(meta.sha, meta.stack, meta.plan_hash)
        self._put(f"{base}/{APPLIED}", applied_record(run_id))
        self._delete(f"{base}/{PLAN_FILE}")

    def index_tree(self, tree: str, sha: str) -> None:
        self._put(self._tree_key(tree), tree_record(sha))

    def commit_of_tree(self, tree: str) -> str | None:
        key = self._tree_key(tree)
        if not self._exists(key):
            return None
        return planned_commit(self._read(key).decode())

    def _tree_key(self, tree: str) -> str:
        return f"{self._key(BY_TREE)}/{_check_key('tree', tree)}.json"

    def _key(self, *parts: str) -> str:
        checked = [_check_key("key part", p) for p in parts]
        return "/".join([self.prefix, *checked] if self.prefix else checked)

    def _put(self, key: str, body: bytes) -> None:
        self._call(
            "write",
            key,
            lambda: self.client.put_object(
                Bucket=self.bucket, Key=key, Body=body, ServerSideEncryption="AES256"
            ),
        )

    def _delete(self, key: str) -> None:
        self._call("delete", key, lambda: self.client.delete_object(Bucket=self.bucket, Key=key))

    def _read(self, key: str) -> bytes:
        response = self._call(
            "read", key, lambda: self.client.get_object(Bucket=self.bucket, Key=key)
        )
        return bytes(response["Body"].read())

    def _exists(self, key: str) -> bool:
        listing = self._call(
            "list",
            key,
            lambda: self.client.list_objects_v2(Bucket=self.bucket, Prefix=key, MaxKeys=1),
        )
        return any(obj["Key"] == key for obj in listing.get("Contents", []))

    def _keys(self, prefix: str) -> list[str]:
        def listing() -> list[str]:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix + "/"
            )
            return [obj["Key"] for page in pages for obj in page.get("Contents", [])]

        return list(self._call("list", prefix, listing))

    def _call(self, what: str, key: str, action: Callable[[], Any]) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return action()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            raise GitOpsError(
                f"{self.noun} s3://{self.bucket}/{key}: cannot {what} ({code}: "
                f"{exc.response.get('Error', {}).get('Message', '')})"
            ) from None
        except BotoCoreError as exc:
            raise GitOpsError(
                f"{self.noun} s3://{self.bucket}/{key}: cannot {what}: {exc}"
            ) from None


def _private_dirs(path: Path) -> None:
    """path and every missing parent, owner-only (mkdir's mode covers only the last)."""
    missing = [p for p in [path, *path.parents] if not p.exists()]
    for directory in reversed(missing):
        directory.mkdir(mode=0o700)


def _write_private(path: Path, data: bytes) -> None:
    """Owner-only from the first byte: a saved plan holds variable values in clear."""
    _private_dirs(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def default_location(state_dir: Path, env: Mapping[str, str]) -> str:
    """INFRA_GITOPS_PLAN_STORE, else a directory under the state dir."""
    return env.get("INFRA_GITOPS_PLAN_STORE") or str(state_dir / "stored-plans")


def s3_client_factory(target: Target) -> Callable[[], Any]:
    """A boto3 S3 client for the target cloud: the sandbox's emulator while it is up."""

    def make() -> Any:
        import boto3

        if target.sandbox is None:
            return boto3.client("s3")
        from infra_gitops import sandbox

        return sandbox.client("s3", target.sandbox.endpoint, target.sandbox.region)

    return make
