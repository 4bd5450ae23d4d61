"""Values shared across the package: frozen dataclasses, no behaviour beyond derivation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

SENSITIVE_MARKER = "(sensitive value)"
"""What every redacted value is replaced with, in records, artifacts, reports and logs."""


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    READ = "read"
    NOOP = "no-op"


class RunKind(StrEnum):
    PLAN = "plan"
    DRIFT = "drift"
    APPLY = "apply"
    HEAL = "heal"
    DESTROY = "destroy"


class RunStatus(StrEnum):
    RUNNING = "running"
    NO_CHANGES = "no-changes"
    CHANGES = "changes"
    DRIFTED = "drifted"
    APPLIED = "applied"
    FAILED = "failed"
    SKIPPED = "skipped"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class Policy:
    drift_interval: int = 600
    """Seconds between drift checks (daemon)."""
    self_heal: bool = False
    auto_apply: bool = False
    prune: bool | Literal["confirm"] = False
    """Destroy the stack when it leaves the manifest: True (the daemon does), False
    (it is left as it is, Orphaned) or "confirm" (only `infra-gitops prune STACK
    --confirm`, run by a person, destroys it)."""

    @property
    def prunes_automatically(self) -> bool:
        return self.prune is True

    @property
    def prune_needs_confirm(self) -> bool:
        return self.prune == "confirm"


@dataclass(frozen=True)
class Stack:
    """One stack as the manifest declares it."""

    name: str
    path: str
    """Directory of the stack, relative to the repo root, POSIX separators."""
    engine: str = "terraform"
    workspace: str = "default"
    variables: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()
    policy: Policy = field(default_factory=Policy)
    backend_config: Mapping[str, Any] = field(default_factory=dict)
    """Extra settings for the stack's state backend (Terraform -backend-config)."""
    binary: str | None = None
    """Explicit engine executable (path or name on PATH); None means the engine's default."""
    variables_from_env: Mapping[str, str] = field(default_factory=dict)
    """Variable name -> name of the process environment variable holding its value."""
    variables_from_stack: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    """Variable name -> (stack, output): the value is another stack's output. Such a
    stack is also an implicit dependency."""
    sensitive_variables: frozenset[str] = frozenset()
    """Variables whose values are secrets: never shown, stored or logged."""
    tags: tuple[str, ...] = ()
    """Labels for selecting stacks (policies apply to stacks by tag, e.g. prod)."""


@dataclass(frozen=True)
class Commit:
    sha: str
    author: str
    email: str
    date: str
    """ISO 8601 with offset."""
    message: str
    dirty: bool = False
    """True when the run used a working tree with uncommitted changes on top of sha."""

    @property
    def short_sha(self) -> str:
        return self.sha[:10]

    @property
    def subject(self) -> str:
        return self.message.splitlines()[0] if self.message else ""


@dataclass(frozen=True)
class ResourceChange:
    """One resource in a plan (a change Git asks for) or in drift (a change made outside Git).

    before/after are redacted: sensitive values are SENSITIVE_MARKER.
    """

    address: str
    type: str
    name: str
    action: Action
    changed_paths: tuple[str, ...] = ()
    """Attribute paths that differ, dotted (tags.env, ingress.0.port)."""
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None
    module: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "type": self.type,
            "name": self.name,
            "module": self.module,
            "action": str(self.action),
            "changed_paths": list(self.changed_paths),
            "before": self.before,
            "after": self.after,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ResourceChange:
        return cls(
            address=data["address"],
            type=data["type"],
            name=data["name"],
            module=data.get("module"),
            action=Action(data["action"]),
            changed_paths=tuple(data.get("changed_paths", ())),
            before=data.get("before"),
            after=data.get("after"),
        )


@dataclass(frozen=True)
class ChangeCounts:
    create: int = 0
    update: int = 0
    replace: int = 0
    delete: int = 0

    @property
    def total(self) -> int:
        return self.create + self.update + self.replace + self.delete

    @classmethod
    def of(cls, changes: tuple[ResourceChange, ...] | list[ResourceChange]) -> ChangeCounts:
        actions = [c.action for c in changes]
        return cls(
            create=actions.count(Action.CREATE),
            update=actions.count(Action.UPDATE),
            replace=actions.count(Action.REPLACE),
            delete=actions.count(Action.DELETE),
        )

    def to_dict(self) -> dict[str, int]:
        return {
            "create": self.create,
            "update": self.update,
            "replace": self.replace,
            "delete": self.delete,
        }

    def __str__(self) -> str:
        return (
            f"{self.create} to create, {self.update} to update, "
            f"{self.replace} to replace, {self.delete} to delete"
        )


@dataclass(frozen=True)
class Plan:
    """A normalized plan. Nothing above the engines parses engine output."""

    stack: str
    changes: tuple[ResourceChange, ...]
    """What applying this plan would do (no-op resources left out)."""
    drift: tuple[ResourceChange, ...]
    """Resources whose live state differs from the state file: changed outside Git."""
    outputs: Mapping[str, Any]
    """Planned output values, redacted; unknown values are None."""
    engine: str
    engine_version: str
    refresh_only: bool = False
    plan_file: Path | None = None
    """The engine's saved plan; apply() applies exactly this file."""
    artifact: Path | None = None
    """Redacted machine-readable plan (JSON) kept for the run record."""

    @property
    def counts(self) -> ChangeCounts:
        return ChangeCounts.of(self.changes)

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    @property
    def has_drift(self) -> bool:
        return bool(self.drift)


@dataclass(frozen=True)
class ApplyResult:
    stack: str
    counts: ChangeCounts
    outputs: Mapping[str, Any]
    """Redacted outputs after the apply."""
    engine_version: str


@dataclass(frozen=True)
class Run:
    """A run record: one plan, drift check or apply of one stack at one commit."""

    id: str
    stack: str
    kind: RunKind
    trigger: str
    status: RunStatus
    commit: Commit
    started_at: str
    finished_at: str | None = None
    duration_s: float | None = None
    counts: ChangeCounts = field(default_factory=ChangeCounts)
    changes: tuple[ResourceChange, ...] = ()
    drift: tuple[ResourceChange, ...] = ()
    engine: str = ""
    engine_version: str = ""
    error: str | None = None
    plan_artifact: str | None = None
    log_artifact: str | None = None
    actor: str | None = None
    """The person who ran it, when a person had to (`prune --confirm`)."""


@dataclass(frozen=True)
class StackOutcome:
    """What one command did to one stack: the CLI's and the report's unit."""

    stack: str
    kind: RunKind
    status: RunStatus
    run_id: str | None = None
    plan: Plan | None = None
    """The plan made (for drift: the refresh-only plan)."""
    heal_plan: Plan | None = None
    """For drift --heal: the plan that was applied to restore the Git state."""
    error: str | None = None
    """Why the stack failed or was skipped."""
    duration_s: float = 0.0
    outputs: Mapping[str, Any] | None = None
    """The stack's outputs after an apply (redacted); None when nothing was applied."""

    @property
    def failed(self) -> bool:
        return self.status is RunStatus.FAILED
