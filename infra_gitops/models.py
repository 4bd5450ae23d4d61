"""Values shared across the package: frozen dataclasses, no behaviour beyond derivation."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from infra_gitops.stacknames import definition

SENSITIVE_MARKER = "(sensitive value)"
"""What every redacted value is replaced with, in records, artifacts, reports and logs."""

UNKNOWN_MARKER = "(known after apply)"
"""What a value Terraform only knows after apply reads as, wherever a plan's values are
shown or kept (Terraform omits such values from `after`: a null would read as "unset")."""


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    READ = "read"
    NOOP = "no-op"
    FORGET = "forget"
    """Leaves Terraform's management without being destroyed (a `removed` block with
    `destroy = false`, Terraform 1.7+)."""


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
class DriftIgnore:
    """Drift that is expected (policy `ignore_drift`): changes outside Git to attribute
    paths matching `path` (a glob on the dotted path, e.g. tags.CostCenter, tags_all.*),
    in resources whose type matches `type` (a glob; None: any type). A path also covers
    what lies under it (tags covers tags.owner)."""

    path: str
    type: str | None = None

    def __str__(self) -> str:
        return self.path if self.type is None else f"{self.type}: {self.path}"


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
    ignore_drift: tuple[DriftIgnore, ...] = ()
    """Drift that is expected: recorded, but not Drifted, not healed, not notified."""

    @property
    def prunes_automatically(self) -> bool:
        return self.prune is True

    @property
    def prune_needs_confirm(self) -> bool:
        return self.prune == "confirm"


@dataclass(frozen=True)
class Promotion:
    """How changes move between a stack's environments (manifest `promotion`)."""

    order: tuple[str, ...] = ()
    """Environments first to last; empty: any promotion between two of them."""
    soak_s: int = 0
    """Seconds the source must have run what it applied before it is promoted."""


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
    backend_file: str | None = None
    """A .tfbackend file, relative to the repo root (POSIX), given to init before
    backend_config (whose settings win over the file's)."""
    binary: str | None = None
    """Explicit engine executable (path or name on PATH); None means the engine's default."""
    variables_from_env: Mapping[str, str] = field(default_factory=dict)
    """Variable name -> name of the process environment variable holding its value."""
    variables_from_stack: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    """Variable name -> (stack, output): the value is another stack's output. Such a
    stack is also an implicit dependency."""
    mock_outputs: Mapping[str, Any] = field(default_factory=dict)
    """Variable name (a from_stack one) -> the value `plan` and `ci plan` use while that
    output does not exist yet (manifest `mock:`). Never used to apply."""
    sensitive_variables: frozenset[str] = frozenset()
    """Variables whose values are secrets: never shown, stored or logged."""
    tags: tuple[str, ...] = ()
    """Labels for selecting stacks (policies apply to stacks by tag, e.g. prod). An
    instance of a stack with environments is tagged with its environment too."""
    environment: str | None = None
    """For an instance of a stack with environments (app@prod): its environment."""
    revision: str | None = None
    """The commit (its full SHA) an instance is pinned to: its directory and local modules
    are taken from that commit's tree. None: the commit being applied (the branch)."""
    promotion: Promotion = field(default_factory=Promotion)
    """For an instance: how its definition's changes are promoted (`promote`)."""

    @property
    def definition(self) -> str:
        """The name the stack is declared with: app for app@prod, else the name."""
        return definition(self.name)


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

    before/after are redacted: sensitive values are SENSITIVE_MARKER, values known only
    after apply are UNKNOWN_MARKER (and listed in unknown_paths).
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
    unknown_paths: tuple[str, ...] = ()
    """Attribute paths whose value is known only after apply, dotted; "" is the whole
    value."""
    importing: str | None = None
    """The ID of the existing object this change imports (an `import` block), else None."""
    previous_address: str | None = None
    """Where the resource was before a `moved` block (or a refactoring) moved it."""
    action_reason: str | None = None
    """Terraform's reason for the action (replace_because_cannot_update, ...), if any."""
    deferred_reason: str | None = None
    """Why Terraform deferred this change to a later plan (Terraform 1.9+ experiment)."""
    create_before_destroy: bool = False
    """For a replace: the new object is created before the old one is destroyed
    (Terraform's ["create", "delete"]); False is destroy-then-create."""
    ignored_paths: tuple[str, ...] = ()
    """For drift: the changed paths the stack's policy expects (ignore_drift)."""

    @property
    def expected(self) -> bool:
        """Drift made only of expected changes (a resource deleted or created outside
        Git never is: it has no changed paths)."""
        return bool(self.changed_paths) and set(self.changed_paths) <= set(self.ignored_paths)

    @property
    def moved(self) -> bool:
        return self.previous_address is not None and self.previous_address != self.address

    @property
    def imported(self) -> bool:
        return self.importing is not None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "address": self.address,
            "type": self.type,
            "name": self.name,
            "module": self.module,
            "action": str(self.action),
            "changed_paths": list(self.changed_paths),
            "before": self.before,
            "after": self.after,
            "unknown_paths": list(self.unknown_paths),
        }
        # Only when set: records of ordinary changes keep their old shape.
        for key in ("importing", "previous_address", "action_reason", "deferred_reason"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        if self.create_before_destroy:
            data["create_before_destroy"] = True
        if self.ignored_paths:
            data["ignored_paths"] = list(self.ignored_paths)
        return data

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
            unknown_paths=tuple(data.get("unknown_paths", ())),
            importing=data.get("importing"),
            previous_address=data.get("previous_address"),
            action_reason=data.get("action_reason"),
            deferred_reason=data.get("deferred_reason"),
            create_before_destroy=bool(data.get("create_before_destroy", False)),
            ignored_paths=tuple(data.get("ignored_paths", ())),
        )


def unexpected(drift: Iterable[ResourceChange]) -> tuple[ResourceChange, ...]:
    """The drift that counts: what the stack's policy does not expect."""
    return tuple(c for c in drift if not c.expected)


def expected(drift: Iterable[ResourceChange]) -> tuple[ResourceChange, ...]:
    """The drift the stack's policy expects (ignore_drift): recorded, not counted."""
    return tuple(c for c in drift if c.expected)


@dataclass(frozen=True)
class OutputChange:
    """One root module output a plan changes. Applying such a plan writes the new value
    to the state even when no resource changes (Terraform exits 2 for it)."""

    name: str
    action: Action
    before: Any = None
    after: Any = None
    """Redacted: SENSITIVE_MARKER when sensitive, UNKNOWN_MARKER when known after apply."""
    sensitive: bool = False
    unknown: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "action": str(self.action),
            "before": self.before,
            "after": self.after,
            "sensitive": self.sensitive,
            "unknown": self.unknown,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OutputChange:
        return cls(
            name=data["name"],
            action=Action(data["action"]),
            before=data.get("before"),
            after=data.get("after"),
            sensitive=bool(data.get("sensitive", False)),
            unknown=bool(data.get("unknown", False)),
        )


@dataclass(frozen=True)
class ChangeCounts:
    """How many resources a plan changes, per kind.

    create/update/replace/delete are this project's counts: a replace is counted once, as
    a replace, because a reviewer (and the policies) must see it apart from a plain
    create or delete. Terraform's own summary line counts a replace both "to add" and "to
    destroy"; terraform_summary() gives that line word for word.
    """

    create: int = 0
    update: int = 0
    replace: int = 0
    delete: int = 0
    imported: int = 0
    """Resources an `import` block brings under management (any action)."""
    moved: int = 0
    """Resources at a new address (a `moved` block), whatever else changes in them."""
    forget: int = 0
    outputs: int = 0
    """Root module outputs the plan adds, changes or removes."""
    deferred: int = 0
    """Changes Terraform deferred to a later plan: not part of this plan."""

    @property
    def total(self) -> int:
        """Resource changes an apply makes (moves and imports without a change included)."""
        return self.create + self.update + self.replace + self.delete + self.forget

    @classmethod
    def of(
        cls,
        changes: tuple[ResourceChange, ...] | list[ResourceChange],
        outputs: tuple[OutputChange, ...] | list[OutputChange] = (),
        deferred: int = 0,
    ) -> ChangeCounts:
        actions = [c.action for c in changes]
        return cls(
            create=actions.count(Action.CREATE),
            update=actions.count(Action.UPDATE),
            replace=actions.count(Action.REPLACE),
            delete=actions.count(Action.DELETE),
            imported=sum(1 for c in changes if c.imported),
            moved=sum(1 for c in changes if c.moved),
            forget=actions.count(Action.FORGET),
            outputs=len(outputs),
            deferred=deferred,
        )

    def to_dict(self) -> dict[str, int]:
        return {
            "create": self.create,
            "update": self.update,
            "replace": self.replace,
            "delete": self.delete,
            "import": self.imported,
            "move": self.moved,
            "forget": self.forget,
            "outputs": self.outputs,
            "deferred": self.deferred,
        }

    def terraform_summary(self) -> str:
        """Terraform's own summary line, word for word: "Plan: 1 to import, 2 to add,
        0 to change, 1 to destroy." A replace is one add and one destroy; imports are
        named only when there are some. Forgotten resources are not in it: Terraform
        (1.15, measured) lists them in a warning instead, so they are counted here apart
        (str() says "N to forget")."""
        parts = [f"{self.imported} to import"] if self.imported else []
        parts += [
            f"{self.create + self.replace} to add",
            f"{self.update} to change",
            f"{self.delete + self.replace} to destroy",
        ]
        return "Plan: " + ", ".join(parts) + "."

    def __str__(self) -> str:
        text = (
            f"{self.create} to create, {self.update} to update, "
            f"{self.replace} to replace, {self.delete} to delete"
        )
        extras = [
            (self.imported, "to import"),
            (self.moved, "moved"),
            (self.forget, "to forget"),
            (self.outputs, "output(s) to change"),
            (self.deferred, "deferred"),
        ]
        return text + "".join(f", {n} {what}" for n, what in extras if n)


@dataclass(frozen=True)
class Plan:
    """A normalized plan. Nothing above the engines parses engine output."""

    stack: str
    changes: tuple[ResourceChange, ...]
    """What applying this plan would do (no-op resources left out, except those a
    `moved` or `import` block touches: those are changes to the state)."""
    drift: tuple[ResourceChange, ...]
    """Resources whose live state differs from the state file: changed outside Git.
    Expected drift (policy ignore_drift) included: see has_drift."""
    outputs: Mapping[str, Any]
    """Planned output values, redacted; unknown values are UNKNOWN_MARKER."""
    engine: str
    engine_version: str
    refresh_only: bool = False
    plan_file: Path | None = None
    """The engine's saved plan; apply() applies exactly this file."""
    artifact: Path | None = None
    """Redacted machine-readable plan (JSON) kept for the run record."""
    output_changes: tuple[OutputChange, ...] = ()
    """Root module outputs this plan adds, changes or removes."""
    deferred: tuple[ResourceChange, ...] = ()
    """Changes Terraform deferred to a later plan: shown, never applied by this plan."""
    prior_outputs: Mapping[str, Any] | None = None
    """Output values in the state the plan starts from (what reading the stack's outputs
    returns until the plan is applied), redacted; None when the engine does not say."""
    mock_outputs: tuple[str, ...] = ()
    """"STACK.OUTPUT" of each dependency output this plan used a mock value for (it did
    not exist yet): such a plan is for review only and is never applied."""

    @property
    def counts(self) -> ChangeCounts:
        return ChangeCounts.of(self.changes, self.output_changes, len(self.deferred))

    @property
    def has_changes(self) -> bool:
        """Whether applying this plan changes anything, the state included: Terraform's
        `plan -detailed-exitcode` exits 2 for an output-only plan too (a refresh-only
        plan's outputs changed by drift count too: applying it saves them)."""
        return bool(self.changes or self.output_changes)

    @property
    def has_drift(self) -> bool:
        """Drift that counts: some of it is not expected by the stack's policy."""
        return bool(unexpected(self.drift))

    @property
    def mock_note(self) -> str | None:
        """For a plan made with mock values: "planned against mock outputs of storage:
        queue_url (...)", saying it is for review only; else None."""
        by_stack: dict[str, list[str]] = {}
        for item in self.mock_outputs:
            stack, _, output = item.partition(".")
            by_stack.setdefault(stack, []).append(output)
        if not by_stack:
            return None
        parts = "; ".join(f"{stack}: {', '.join(outs)}" for stack, outs in by_stack.items())
        return (
            f"planned against mock outputs of {parts} (not applied yet): for review only, "
            f"never applied; plan again once {', '.join(by_stack)} is applied"
        )


@dataclass(frozen=True)
class ApplyResult:
    stack: str
    counts: ChangeCounts
    outputs: Mapping[str, Any]
    """Redacted outputs after the apply. Parts the engine did not read back after
    applying (the plan did not know them) are UNKNOWN_MARKER."""
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
    output_changes: tuple[OutputChange, ...] = ()
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
    runs: tuple[Run, ...] = ()
    """The finished run records this operation wrote, oldest first (a drift check and
    its heal: two), so that no caller reads again what was just written."""
    note: str | None = None
    """What a person should know about a stack that did not fail (e.g. its stored plan
    was applied already)."""

    @property
    def failed(self) -> bool:
        return self.status is RunStatus.FAILED

    @property
    def run(self) -> Run | None:
        """The last finished record of the operation (None when nothing was recorded)."""
        return self.runs[-1] if self.runs else None
