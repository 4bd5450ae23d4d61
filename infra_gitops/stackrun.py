"""One operation on one stack, locked and recorded: plan, drift check (and heal), apply,
destroy.

Each operation holds the stack's lock for its whole duration (a stack held by another
run fails fast, naming the holder, and nothing is recorded since nothing ran), records
the run when it starts and when it ends whatever happens, and keeps the redacted plan
and the log as artifacts. A failed plan is never applied: apply only ever gets the Plan
just made, and applies its saved file. However an operation ends, no saved plan file it
made is left behind: they hold variable values (secrets too) in clear.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import cached_property, partial
from pathlib import Path
from typing import Any, TypeVar

from infra_gitops import process
from infra_gitops.coordination.locks import HeldLock, StackLocks
from infra_gitops.engines.base import Engine, StackWorkspace
from infra_gitops.engines.terraform import TerraformEngine
from infra_gitops.errors import GitOpsError, LockHeldError, OutputsPendingError
from infra_gitops.expected_drift import KeptLive, annotate, kept_live, undone
from infra_gitops.leftovers import owned_name
from infra_gitops.models import (
    UNKNOWN_MARKER,
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

T = TypeVar("T")

WorkspaceFactory = Callable[[Stack, Path], StackWorkspace]
"""Builds the workspace of a stack given the path of the run's log file."""

Approver = Callable[[Stack, Plan], bool]
"""Sees a plan with changes before it is applied; False leaves the stack as it is."""

MOCKS_ARTIFACT = "mock-outputs.json"
"""The artifact of a plan run made with mock values: which outputs, and the note."""

PlanKeeper = Callable[[Stack, Plan], None]
"""Sees every plan `plan` makes while its saved file still exists (`ci plan` copies it
to the plan store, for `apply --from-plan`)."""


@dataclass(frozen=True)
class StackRunner:
    """Everything the operations share for one command invocation."""

    state_dir: Path
    store: RunStore
    source: Source
    engine_for: Callable[[Stack], Engine]
    workspace_for: WorkspaceFactory
    locks: StackLocks
    """Where the stacks' locks are held (files for one machine, PostgreSQL for replicas)."""
    trigger: str = "cli"
    lock_wait: float = 0.0
    keep_plan: PlanKeeper | None = None
    actor: str | None = None
    """Who asked, when a person did (`prune --confirm`): recorded with each run."""
    outputs: OutputsCache | None = None
    """Where the outputs each operation learns are kept for the stacks that read them
    (from_stack), so that no engine process is spent on reading them again."""
    plans_only: bool = False
    """The workspaces may hold mock values for dependency outputs (Core.runner's
    mock_outputs): every operation but plan is refused, so nothing is ever applied,
    healed or destroyed with them."""

    def plan(self, stack: Stack) -> StackOutcome:
        return self._exclusively(stack, RunKind.PLAN, partial(self._plan, stack))

    def apply_saved(self, stack: Stack, plan: Plan) -> StackOutcome:
        """Apply a plan made by an earlier command (its saved file): no new plan.

        The engine refuses a saved plan once the state changed since it was made.
        """
        return self._exclusively(stack, RunKind.APPLY, partial(self._apply_saved, stack, plan))

    def drift(self, stack: Stack, *, heal: bool) -> StackOutcome:
        """Refresh-only check; with heal, a drifted stack gets the Git state applied back."""

        def check_then_heal(lock: HeldLock) -> StackOutcome:
            checked = self._drift_check(stack, lock)
            if not heal or checked.status is not RunStatus.DRIFTED:
                return checked
            healed = self._apply(stack, RunKind.HEAL, None, lock)
            return replace(
                healed,
                status=RunStatus.FAILED if healed.failed else RunStatus.DRIFTED,
                plan=checked.plan,
                heal_plan=healed.plan,
                runs=checked.runs + healed.runs,
                duration_s=checked.duration_s + healed.duration_s,
            )

        return self._exclusively(stack, RunKind.DRIFT, check_then_heal)

    def apply(self, stack: Stack, approve: Approver | None) -> StackOutcome:
        """Plan, then apply that saved plan; approve (None: auto-approve) sees it first."""
        return self._exclusively(
            stack, RunKind.APPLY, partial(self._apply, stack, RunKind.APPLY, approve)
        )

    def destroy(self, stack: Stack) -> StackOutcome:
        """Destroy everything the stack manages (prune), recorded as a destroy run."""
        return self._exclusively(stack, RunKind.DESTROY, partial(self._destroy, stack))

    def force_unlock(self, stack: Stack, lock_id: str) -> None:
        """Release the stack's Terraform state lock lock_id (`unlock`), holding the
        stack's own lock so that no run of ours is using the state meanwhile. Not a run
        (RunKind has no kind for it): nothing is recorded; the caller prints it. Raises
        GitOpsError: a Pulumi stack, our lock held, the engine refusing."""
        engine = self.engine_for(stack)
        if not isinstance(engine, TerraformEngine):
            raise GitOpsError(
                f"stack {stack.name!r} uses engine {stack.engine!r}: unlock releases "
                "Terraform/OpenTofu state locks only (for Pulumi, see `pulumi cancel` "
                "and its backend's lock files)"
            )

        def unlock(engine: Engine, ws: StackWorkspace) -> None:
            assert isinstance(engine, TerraformEngine)
            engine.force_unlock(ws, lock_id)

        self.with_engine(stack, "unlock", unlock)

    def with_engine(
        self, stack: Stack, step: str, work: Callable[[Engine, StackWorkspace], T]
    ) -> T:
        """work(engine, workspace) on the stack, prepared (init), holding the stack's lock
        so that no run uses its work dir meanwhile. Not a run (nothing is recorded): the
        engine's log goes to a file of this step, removed after, as there is no record
        to keep it; a failure's output is in its error."""
        log_file = self.state_dir / "logs" / owned_name(f"{step}-{stack.name}.log")
        log_file.parent.mkdir(parents=True, exist_ok=True)
        try:
            with (
                self.locks.hold(stack.name, wait=self.lock_wait) as lock,
                process.cancel_on(lock.lost),
            ):
                ws = self.workspace_for(stack, log_file)
                engine = self.engine_for(stack)
                engine.prepare(ws)
                return work(engine, ws)
        finally:
            log_file.unlink(missing_ok=True)

    # ------------------------------------------------------------ internals

    def _destroy(self, stack: Stack, lock: HeldLock) -> StackOutcome:
        with self._recorded(stack, RunKind.DESTROY, lock) as rec:
            rec.engine.prepare(rec.ws)
            rec.ws.progress("destroying every resource of the stack")
            result = rec.engine.destroy(rec.ws)
            return self._learned(rec.finish_applied(result), result.outputs)
        return rec.closed_outcome()

    def _plan(self, stack: Stack, lock: HeldLock) -> StackOutcome:
        with self._recorded(stack, RunKind.PLAN, lock) as rec:
            rec.engine.prepare(rec.ws)
            # What an apply would do: expected drift kept, as _apply keeps it.
            plan = rec.plan_keeping_expected_drift()
            if rec.ws.mocked_outputs:
                plan = replace(plan, mock_outputs=rec.ws.mocked_outputs)
                rec.note_mocks(plan)
            if self.keep_plan is not None:
                self.keep_plan(stack, plan)
            status = RunStatus.CHANGES if plan.has_changes else RunStatus.NO_CHANGES
            outcome = replace(rec.finish(status, plan), note=plan.mock_note)
            return self._learned(outcome, plan.prior_outputs)
        return rec.closed_outcome()

    def _apply_saved(self, stack: Stack, plan: Plan, lock: HeldLock) -> StackOutcome:
        with self._recorded(stack, RunKind.APPLY, lock) as rec:
            rec.planned(plan)
            rec.engine.prepare(rec.ws)
            rec.ws.progress(f"applying the saved plan: {plan.counts}")
            result = rec.engine.apply(rec.ws, plan)
            outcome = rec.finish(RunStatus.APPLIED, plan, engine_version=result.engine_version)
            return self._learned(replace(outcome, outputs=result.outputs), result.outputs)
        return rec.closed_outcome()

    def _drift_check(self, stack: Stack, lock: HeldLock) -> StackOutcome:
        with self._recorded(stack, RunKind.DRIFT, lock) as rec:
            rec.engine.prepare(rec.ws)
            plan = rec.plan(refresh_only=True)
            status = RunStatus.DRIFTED if plan.has_drift else RunStatus.NO_CHANGES
            return self._learned(rec.finish(status, plan), plan.prior_outputs)
        return rec.closed_outcome()

    def _apply(
        self, stack: Stack, kind: RunKind, approve: Approver | None, lock: HeldLock
    ) -> StackOutcome:
        with self._recorded(stack, kind, lock) as rec:
            rec.engine.prepare(rec.ws)
            plan = rec.plan_keeping_expected_drift()
            undoes = undone(plan, kept_live(plan))
            if undoes and kind is RunKind.HEAL:
                refused = rec.finish(RunStatus.FAILED, plan, error=_undoes_expected(undoes))
                return self._learned(refused, plan.prior_outputs)
            if not plan.has_changes:
                return self._learned(rec.finish(RunStatus.NO_CHANGES, plan), plan.prior_outputs)
            if approve is not None and not approve(stack, plan):
                skipped = rec.finish(RunStatus.SKIPPED, plan, error="not approved: nothing applied")
                return self._learned(skipped, plan.prior_outputs)
            rec.ws.progress(f"applying: {plan.counts}")
            result = rec.engine.apply(rec.ws, plan)
            outcome = rec.finish(RunStatus.APPLIED, plan, engine_version=result.engine_version)
            # A commit's apply goes on (Git asked for it), but says what it set back.
            note = f"set back expected drift: {'; '.join(undoes[:5])}" if undoes else None
            return self._learned(
                replace(outcome, outputs=result.outputs, note=note), result.outputs
            )
        return rec.closed_outcome()

    def _learned(self, outcome: StackOutcome, outputs: Mapping[str, Any] | None) -> StackOutcome:
        """Keep the outputs the stack's state holds now, as this operation learned them:
        under the stack's lock (nothing else changed them meanwhile) and once its record
        is closed (the cache notes the newest state-changing run: this one, finished)."""
        if self.outputs is not None and outputs is not None:
            self.outputs.put(outcome.stack, outputs)
        return outcome

    def _exclusively(
        self, stack: Stack, kind: RunKind, operation: Callable[[HeldLock], StackOutcome]
    ) -> StackOutcome:
        """Run operation holding the stack's lock. When another run holds it, the stack
        fails at once, naming the holder; nothing is recorded, since nothing ran. When
        the lock is lost meanwhile (a database lock whose connection broke), the engine
        process running under it is stopped and the operation fails."""
        if self.plans_only and kind is not RunKind.PLAN:
            raise RuntimeError(f"a runner made for plans with mock outputs cannot {kind}")
        try:
            with (
                self.locks.hold(stack.name, wait=self.lock_wait) as lock,
                process.cancel_on(lock.lost),
            ):
                return operation(lock)
        except LockHeldError as exc:
            return StackOutcome(stack.name, kind, RunStatus.FAILED, error=str(exc))

    @contextmanager
    def _recorded(self, stack: Stack, kind: RunKind, lock: HeldLock) -> Iterator[_Recording]:
        """Start a run record; whatever happens in the block, the record gets closed.

        Expected failures (GitOpsError) close it as failed (or skipped, for a dependency's
        outputs that do not exist yet) and are swallowed: the caller then returns
        rec.closed_outcome(). Bugs close it as failed and propagate.
        """
        run = self.store.start(
            stack.name, kind, self.trigger, self.source.commit, stack.engine, actor=self.actor
        )
        lock.update(run_id=run.id)
        log_file = self.state_dir / "logs" / f"{run.id}.log"
        log_file.parent.mkdir(parents=True, exist_ok=True)
        rec = _Recording(self, stack, run, log_file)
        try:
            yield rec
        except OutputsPendingError as exc:
            rec.close(RunStatus.SKIPPED, str(exc))
        except GitOpsError as exc:
            self._unsure_of_state(stack, kind)
            rec.close(RunStatus.FAILED, str(exc))
        except Exception as exc:
            self._unsure_of_state(stack, kind)
            rec.close(RunStatus.FAILED, f"internal error: {type(exc).__name__}: {exc}")
            raise
        finally:
            rec.remove_saved_plans()
            rec.keep_log()

    def _unsure_of_state(self, stack: Stack, kind: RunKind) -> None:
        """A failed apply may have changed some of the state: read its outputs again."""
        if self.outputs is not None and kind in _CHANGES_STATE:
            self.outputs.forget(stack.name)


_CHANGES_STATE = frozenset({RunKind.APPLY, RunKind.HEAL, RunKind.DESTROY})


def _undoes_expected(undoes: list[str]) -> str:
    shown = "; ".join(undoes[:5]) + (f" (and {len(undoes) - 5} more)" if len(undoes) > 5 else "")
    return (
        "not healed: the heal would set back drift the stack's policy expects "
        f"(ignore_drift): {shown}. The engine could not keep those values (a resource in "
        "a child module, or an engine without that ability): heal by hand, or change "
        "the policy"
    )


class _Recording:
    """The open run record of one operation; finish() or close() ends it exactly once."""

    def __init__(self, runner: StackRunner, stack: Stack, run: Run, log_file: Path) -> None:
        self.runner = runner
        self.stack = stack
        self.run = run
        self.log_file = log_file
        self.started = time.monotonic()
        self.outcome: StackOutcome | None = None
        self.plans: list[Plan] = []
        self.plans_before: frozenset[Path] = frozenset()

    @cached_property
    def ws(self) -> StackWorkspace:
        # Built inside the recorded block: a bad variable or a pending output is
        # recorded against this run like any engine failure.
        ws = self.runner.workspace_for(self.stack, self.log_file)
        self.plans_before = frozenset(_saved_plans(ws.plans_dir))
        return ws

    def planned(self, plan: Plan) -> Plan:
        """Note a plan this operation works with: its saved file goes when the run ends."""
        self.plans.append(plan)
        return plan

    def plan(self, *, refresh_only: bool = False, keep: KeptLive | None = None) -> Plan:
        """A plan by the engine, noted, its drift annotated with what the stack's policy
        expects (ignore_drift)."""
        ws = self.ws if not keep else replace(self.ws, keep_live=keep)
        made = self.engine.plan(ws, refresh_only=refresh_only)
        return self.planned(annotate(made, self.stack.policy.ignore_drift))

    def plan_keeping_expected_drift(self) -> Plan:
        """A plan to apply: when it would set expected drift back to the configuration,
        planned again keeping those live values (an apply must not undo what the policy
        says is another tool's to change)."""
        plan = self.plan()
        keep = kept_live(plan)
        if keep and undone(plan, keep):
            self.ws.progress("planning again, keeping the expected drift as it is live")
            plan = self.plan(keep=keep)
        return plan

    def remove_saved_plans(self) -> None:
        """Delete the saved plans of this operation, whatever way it ended.

        Those it was given or made (noted with planned()), and those an engine made
        inside one step (a destroy plans and applies in one call): any file that
        appeared in the stack's plans directory while this run held the stack's lock.
        """
        # A saved plan holds variable values (secrets too) in clear; once this operation
        # is over nothing may apply it, so it is not kept.
        for plan in self.plans:
            if plan.plan_file is not None:
                plan.plan_file.unlink(missing_ok=True)
        if "ws" in self.__dict__:  # the workspace was built: the engine may have planned
            for path in _saved_plans(self.ws.plans_dir) - self.plans_before:
                path.unlink(missing_ok=True)

    @cached_property
    def engine(self) -> Engine:
        return self.runner.engine_for(self.stack)

    def note_mocks(self, plan: Plan) -> None:
        """Keep with the run record which dependency outputs were mock values."""
        body = {"mock_outputs": list(plan.mock_outputs), "note": plan.mock_note}
        self.runner.store.attach(self.run.id, MOCKS_ARTIFACT, json.dumps(body, indent=2))

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
        finished = store.finish(
            self.run.id,
            status,
            counts=plan.counts,
            changes=plan.changes,
            drift=plan.drift,
            output_changes=plan.output_changes,
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
            runs=(finished,),
        )
        return self.outcome

    def finish_applied(self, result: ApplyResult) -> StackOutcome:
        """End a run that changed the stack without a plan of ours (destroy)."""
        finished = self.runner.store.finish(
            self.run.id,
            RunStatus.APPLIED,
            counts=result.counts,
            engine_version=result.engine_version,
        )
        self.outcome = StackOutcome(
            stack=self.stack.name,
            kind=self.run.kind,
            status=RunStatus.APPLIED,
            run_id=self.run.id,
            duration_s=time.monotonic() - self.started,
            outputs=result.outputs,
            runs=(finished,),
        )
        return self.outcome

    def close(self, status: RunStatus, message: str) -> None:
        finished = self.runner.store.finish(self.run.id, status, error=message)
        self.outcome = StackOutcome(
            stack=self.stack.name,
            kind=self.run.kind,
            status=status,
            run_id=self.run.id,
            error=message,
            duration_s=time.monotonic() - self.started,
            runs=(finished,),
        )

    def closed_outcome(self) -> StackOutcome:
        """The outcome after the recording closed on an expected failure."""
        assert self.outcome is not None
        return self.outcome

    def keep_log(self) -> None:
        if self.log_file.exists():
            self.runner.store.attach(self.run.id, "log.txt", self.log_file)
            self.log_file.unlink(missing_ok=True)


OutputsFetch = Callable[[str], Mapping[str, Any]]
"""Reads a stack's outputs from its engine (an engine process: the last resort)."""


class OutputsCache:
    """The outputs in each stack's state, by stack name (thread-safe).

    Filled from what the runner already has in hand (a plan's prior outputs, an apply's
    result) and fetched from the engine only when a dependent asks for a stack nothing
    told it about. A command keeps one for its duration; the daemon keeps one for its
    life, since a stack's outputs change only when it is applied, healed or destroyed:
    the runner updates or forgets the entry each time, and an entry is only used while
    the newest such run in the records (`changed_by`, one indexed query) is the one it
    was taken after, so an apply by another process (a `rollback`) is seen too.
    """

    def __init__(self, changed_by: StateChanges | None = None) -> None:
        self._changed_by = changed_by or _never_changed
        self._values: dict[str, tuple[str | None, Mapping[str, Any]]] = {}
        # Re-entrant: fetching one stack's outputs may need its own dependencies' outputs.
        self._lock = threading.RLock()

    def get(self, stack: str, fetch: OutputsFetch) -> Mapping[str, Any]:
        with self._lock:
            token = self._changed_by(stack)
            known = self._values.get(stack)
            if known is not None and known[0] == token:
                return known[1]
            outputs = fetch(stack)
            self._values[stack] = (token, outputs)
            return outputs

    def put(self, stack: str, outputs: Mapping[str, Any]) -> None:
        """What the stack's state holds now; outputs not fully known (UNKNOWN_MARKER)
        drop the entry instead, so the next reader asks the engine."""
        with self._lock:
            if _has_unknown(outputs):
                self._values.pop(stack, None)
            else:
                self._values[stack] = (self._changed_by(stack), outputs)

    def forget(self, stack: str) -> None:
        """The stack's state may have changed in ways nobody saw (a failed apply)."""
        with self._lock:
            self._values.pop(stack, None)


StateChanges = Callable[[str], str | None]
"""A token of the newest run that may have changed a stack's state
(RunStore.latest_state_change)."""


def _never_changed(_: str) -> str | None:
    return None


def _has_unknown(value: Any) -> bool:
    if isinstance(value, str):
        return value == UNKNOWN_MARKER
    if isinstance(value, Mapping):
        return any(_has_unknown(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_unknown(v) for v in value)
    return False


def _saved_plans(plans_dir: Path) -> set[Path]:
    return {p for p in plans_dir.iterdir() if p.is_file()} if plans_dir.is_dir() else set()
