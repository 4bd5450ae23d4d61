"""The engine contract: every engine (Terraform, OpenTofu, Pulumi) implements Engine.

Engines import none of git, runs or the scheduler. They get a StackWorkspace (where the
stack's files are, where to keep working files, which environment) and return models.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from infra_gitops.models import ApplyResult, Plan, Stack

ProgressSink = Callable[[str], None]
"""Receives short human lines about what the engine is doing (step names)."""


def _ignore(_: str) -> None:
    return None


@dataclass(frozen=True)
class StackWorkspace:
    """Everything an engine needs to work on one stack at one source snapshot."""

    stack: Stack
    source_dir: Path
    """The stack's directory inside a snapshot of the repo, never the user's checkout.
    The engine may write override files here."""
    work_dir: Path
    """Per-stack directory that persists across runs: engine data, plan files, logs."""
    env: Mapping[str, str]
    """The full environment for engine commands (process env + stack env + sandbox)."""
    variables: Mapping[str, Any] = field(default_factory=dict)
    secrets: frozenset[str] = frozenset()
    """Literal secret values to scrub from any text the engine keeps or returns."""
    override_files: Mapping[str, str] = field(default_factory=dict)
    """File name -> content written into source_dir before init (the sandbox uses this
    to point hashicorp/aws at the local provider)."""
    backend_config: Mapping[str, Any] = field(default_factory=dict)
    backend_file: Path | None = None
    """The stack's .tfbackend file in the snapshot (manifest `backend_file`): given to init
    before backend_config, whose settings win."""
    keep_live: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Resource address -> attribute paths (dotted) whose live values a plan keeps
    instead of setting them back to the configuration: expected drift (policy
    ignore_drift). An engine that cannot do it plans as usual; the runner checks."""
    timeout: float = 1800.0
    log_file: Path | None = None
    """Where the engine appends the (redacted) output of every command it runs."""
    progress: ProgressSink = _ignore
    mocked_outputs: tuple[str, ...] = ()
    """"STACK.OUTPUT" of each dependency output whose mock value a variable took (only
    `plan` and `ci plan` build such a workspace): what is planned here is for review only."""

    @property
    def plans_dir(self) -> Path:
        """Where the engine writes saved plans and plan JSON: the runner deletes what a
        run left there when it ends, and the start-up sweep what a killed one left."""
        return self.work_dir / PLANS_DIR


PLANS_DIR = "plans"


@dataclass(frozen=True)
class ManagedResource:
    """One resource a stack's state holds (what `unmanaged` compares the cloud with)."""

    type: str
    """The Terraform resource type (Pulumi types mapped to it: aws_s3_bucket ...)."""
    id: str
    """The provider's ID (a bucket's name, a queue's URL, a parameter's name)."""
    address: str = ""
    arn: str | None = None
    name: str | None = None
    """The resource's own name when the state has one (bucket, queue or parameter name)."""


class Engine(Protocol):
    """One infrastructure engine. Implementations are registered in engines.registry."""

    name: str

    def version(self, ws: StackWorkspace) -> str:
        """The engine's version string, e.g. "terraform 1.15.5"."""

    def prepare(self, ws: StackWorkspace) -> None:
        """Initialize the stack (terraform init): backend, providers, modules. Cheap when
        the work dir is initialised for the same settings already: then nothing runs."""

    def plan(self, ws: StackWorkspace, *, refresh_only: bool = False) -> Plan:
        """Plan against the live cloud (refreshing state). refresh_only plans only drift."""

    def apply(self, ws: StackWorkspace, plan: Plan) -> ApplyResult:
        """Apply exactly the saved plan; never re-plan. The result's outputs may leave
        what the plan did not know as UNKNOWN_MARKER (read them with outputs())."""

    def outputs(self, ws: StackWorkspace) -> Mapping[str, Any]:
        """Current outputs of the stack, redacted (an engine command: callers take them
        from a plan's prior_outputs or an apply's result when they have one)."""

    def destroy(self, ws: StackWorkspace) -> ApplyResult:
        """Destroy everything the stack manages (prune)."""

    def state_resources(self, ws: StackWorkspace) -> tuple[ManagedResource, ...]:
        """The managed resources the stack's current state holds (none when it was never
        applied), read without refreshing or changing it."""
