"""One operation on one stack, locked and recorded: plan, drift check (and heal), apply.

Each operation holds the stack's lock for its whole duration, records the run when it
starts and when it ends (whatever happens), and keeps the redacted plan and the log as
artifacts. A failed plan is never applied: apply only ever gets the Plan just made.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from infra_gitops.engines.base import Engine, StackWorkspace
from infra_gitops.errors import GitOpsError, OutputsPendingError
from infra_gitops.locking import stack_lock
from infra_gitops.models import (
    ApplyResult,
    Plan,
    Run,
    RunKind,
    RunStatus,
    Stack,
    StackOutcome,
)
from infra_gitops.runs import RunStore
from infra_gitops.source import Source

WorkspaceFactory = Callable[[Stack, Path], StackWorkspace]
"""Builds the workspace of a stack given the path of the run's log file."""

Approver = Callable[[Stack, Plan], bool]


@dataclass(frozen=True)
class StackRunner:
    """Everything the operations share for one command invocation."""

    state_dir: Path
    store: RunStore
    source: Source
    engine_for: Callable[[Stack], Engine]
    workspace_for: WorkspaceFactory
    trigger: str = "cli"
    lock_wait: float = 0.0

    # ------------------------------------------------------------ operations

    def plan(self, stack: Stack) -> StackOutcome:
        with self._recorded(stack, RunKind.PLAN) as rec:
            rec.engine.prepare(rec.ws)
            plan = rec.engine.plan(rec.ws)
            status = RunStatus.CHANGES if plan.has_changes else RunStatus.NO_CHANGES
            return rec.finish(status, plan)
        return rec.closed_outcome()

    def drift(self, stack: Stack, *, heal: bool) -> StackOutcome:
        with stack_lock(self.state_dir, stack.name, wait=self.lock_wait):
            checked = self._drift_check(stack)
            if not heal or checked.status is not RunStatus.DRIFTED:
                return checked
            healed, _ = self._apply_unlocked(stack, RunKind.HEAL, approve=None)
            return StackOutcome(
                stack=stack.name,
                kind=RunKind.HEAL,
                status=healed.status if healed.failed else RunStatus.DRIFTED,
                run_id=healed.run_id,
                plan=checked.plan,
                heal_plan=healed.plan,
                error=healed.error,
                duration_s=checked.duration_s + healed.duration_s,
            )

    def apply(
        self, stack: Stack, approve: Approver | None
    ) -> tuple[StackOutcome, ApplyResult | None]:
        """Plan and apply that plan; approve (None: auto-approve) sees the plan first."""
        with stack_lock(self.state_dir, stack.name, wait=self.lock_wait):
            return self._apply_unlocked(stack, RunKind.APPLY, approve)

    # ------------------------------------------------------------ internals

    def _drift_check(self, stack: Stack) -> StackOutcome:
        with self._recorded(stack, RunKind.DRIFT, locked=False) as rec:
            rec.engine.prepare(rec.ws)
            plan = rec.engine.plan(rec.ws, refresh_only=True)
            status = RunStatus.DRIFTED if plan.has_drift else RunStatus.NO_CHANGES
            return rec.finish(status, plan)
        return rec.closed_outcome()

    def _apply_unlocked(
        self, stack: Stack, kind: RunKind, approve: Approver | None
    ) -> tuple[StackOutcome, ApplyResult | None]:
        with self._recorded(stack, kind, locked=False) as rec:
            rec.engine.prepare(rec.ws)
            plan = rec.engine.plan(rec.ws)
            if not plan.has_changes:
                return rec.finish(RunStatus.NO_CHANGES, plan), None
            if approve is not None and not approve(stack, plan):
                outcome = rec.finish(RunStatus.SKIPPED, plan, error="not approved: nothing applied")
                return outcome, None
            rec.ws.progress(f"applying: {plan.counts}")
            result = rec.engine.apply(rec.ws, plan)
            outcome = rec.finish(RunStatus.APPLIED, plan, engine_version=result.engine_version)
            return outcome, result
        return rec.closed_outcome(), None

    @contextmanager
    def _recorded(
        self, stack: Stack, kind: RunKind, *, locked: bool = True
    ) -> Iterator[_Recording]:
        """Start a run record; whatever happens in the block, the record gets closed.

        Expected failures (GitOpsError) close it as failed and are swallowed: the caller
        returns rec.closed_outcome(). Bugs close it as failed and propagate.
        """
        lock = stack_lock(self.state_dir, stack.name, wait=self.lock_wait) if locked else None
        with lock or nullcontext() as held:
            run = self.store.start(stack.name, kind, self.trigger, self.source.commit, stack.engine)
            if held is not None:
                held.update(run_id=run.id)
            log_file = self.state_dir / "logs" / f"{run.id}.log"
            log_file.parent.mkdir(parents=True, exist_ok=True)
            rec = _Recording(self, stack, run, log_file)
            try:
                yield rec
            except OutputsPendingError as exc:
                rec.close(RunStatus.SKIPPED, str(exc))
            except GitOpsError as exc:
                rec.close(RunStatus.FAILED, str(exc))
            except Exception as exc:
                rec.close(RunStatus.FAILED, f"internal error: {type(exc).__name__}: {exc}")
                raise
            finally:
                rec.keep_log()


class _Recording:
    """The open run record of one operation; finish() or close() ends it exactly once."""

    def __init__(self, runner: StackRunner, stack: Stack, run: Run, log_file: Path) -> None:
        self.runner = runner
        self.stack = stack
        self.run = run
        self.log_file = log_file
        self.started = time.monotonic()
        self.outcome: StackOutcome | None = None

    @cached_property
    def ws(self) -> StackWorkspace:
        # Built inside the recorded block: a bad variable or a pending output is
        # recorded against this run like any engine failure.
        return self.runner.workspace_for(self.stack, self.log_file)

    @cached_property
    def engine(self) -> Engine:
        return self.runner.engine_for(self.stack)

    def finish(
        self,
        status: RunStatus,
        plan: Plan,
        *,
        error: str | None = None,
        engine_version: str | None = None,
    ) -> StackOutcome:
        store = self.runner.store
        if plan.artifact is not None and plan.artifact.exists():
            store.attach(self.run.id, "plan.json", plan.artifact)
            plan.artifact.unlink()
        if plan.plan_file is not None:
            # Terraform's saved plan holds variable values (secrets too) in clear; once
            # this operation is over nothing may apply it, so it is not kept.
            plan.plan_file.unlink(missing_ok=True)
        store.finish(
            self.run.id,
            status,
            counts=plan.counts,
            changes=plan.changes,
            drift=plan.drift,
            engine_version=engine_version or plan.engine_version,
            error=error,
        )
        self.outcome = StackOutcome(
            stack=self.stack.name,
            kind=self.run.kind,
            status=status,
            run_id=self.run.id,
            plan=plan,
            error=error,
            duration_s=time.monotonic() - self.started,
        )
        return self.outcome

    def close(self, status: RunStatus, message: str) -> None:
        self.runner.store.finish(self.run.id, status, error=message)
        self.outcome = StackOutcome(
            stack=self.stack.name,
            kind=self.run.kind,
            status=status,
            run_id=self.run.id,
            error=message,
            duration_s=time.monotonic() - self.started,
        )

    def closed_outcome(self) -> StackOutcome:
        """The outcome after the recording closed on an expected failure."""
        assert self.outcome is not None
        return self.outcome

    def keep_log(self) -> None:
        if self.log_file.exists():
            self.runner.store.attach(self.run.id, "log.txt", self.log_file)
            self.log_file.unlink(missing_ok=True)
