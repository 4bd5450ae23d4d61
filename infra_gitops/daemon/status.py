"""Each stack's sync status, derived from its run records and the daemon's stack state.

Pure functions: the daemon, `infra-gitops status` (no daemon needed) and the API all
show the same thing for the same records.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from infra_gitops.daemon.contracts import StackView, SyncStatus
from infra_gitops.models import Run, RunKind, RunStatus, unexpected
from infra_gitops.runs import RunStore, StackState

if TYPE_CHECKING:
    # Only a type here: `status` and `history` load no manifest parser (YAML, schemas).
    from infra_gitops.config import Manifest

RECENT_RUNS = 50
"""Runs per stack read to derive its status (newest first)."""

_CHANGE_KINDS = (RunKind.PLAN, RunKind.APPLY, RunKind.DESTROY)
_DRIFT_KINDS = (RunKind.DRIFT, RunKind.HEAL)
_DONE = (RunStatus.APPLIED, RunStatus.NO_CHANGES)


def last_state_change(runs: Sequence[Run]) -> Run | None:
    """The newest run that decided whether the stack is deployed (newest-first runs): an
    apply that left it as its commit declares, or a destroy that removed it."""
    return next(
        (
            r
            for r in runs
            if (r.kind is RunKind.APPLY and r.status in _DONE)
            or (r.kind is RunKind.DESTROY and r.status is RunStatus.APPLIED)
        ),
        None,
    )


def applied_run(runs: Sequence[Run]) -> Run | None:
    """The apply the stack is deployed from; None when it never was, or was destroyed
    since (a destroyed stack is never Synced, drift-checked or applied at its old commit)."""
    change = last_state_change(runs)
    return change if change is not None and change.kind is RunKind.APPLY else None


def last_drift_check(runs: Sequence[Run]) -> Run | None:
    return next(
        (r for r in runs if r.kind is RunKind.DRIFT and r.status is not RunStatus.RUNNING), None
    )


def derive_view(
    name: str, runs: Sequence[Run], state: StackState | None, engine: str = ""
) -> StackView:
    """The stack's view from its runs (newest first) and the daemon's state of it."""
    state = state or StackState(stack=name)
    applied = applied_run(runs)
    drift = last_drift_check(runs)
    status, message = _status(runs, state, applied)
    if state.paused_at_commit:
        why = state.pause_reason or "no reason given"
        pause = (
            f"auto-apply paused by {state.paused_by} until resumed ({why})"
            if state.paused_by
            else f"auto-apply paused after a rollback ({why})"
        )
        message = f"{message}; {pause}" if message else pause
    return StackView(
        name=name,
        status=status,
        engine=engine or (runs[0].engine if runs else ""),
        applied_commit=applied.commit.sha if applied else None,
        desired_commit=state.desired_commit,
        last_drift_check=(drift.finished_at or drift.started_at) if drift else None,
        last_run_id=runs[0].id if runs else None,
        message=message,
        auto_apply_paused=bool(state.paused_at_commit),
    )


def _status(runs: Sequence[Run], state: StackState, applied: Run | None) -> tuple[SyncStatus, str]:
    if runs and runs[0].status is RunStatus.RUNNING:
        return SyncStatus.PROGRESSING, f"{runs[0].kind} running (run {runs[0].id})"
    if state.renamed_to:
        return SyncStatus.RENAMED, f"renamed to {state.renamed_to}; {state.message}".rstrip("; ")
    if state.orphaned:
        return SyncStatus.ORPHANED, state.message or "removed from the manifest; prune is off"
    change = next((r for r in runs if r.kind in _CHANGE_KINDS), None)
    if change is not None and change.status is RunStatus.FAILED:
        return SyncStatus.FAILED, _first_line(change.error) or f"{change.kind} failed"
    drift = _newer_than(next((r for r in runs if r.kind in _DRIFT_KINDS), None), applied)
    if drift is not None and drift.status is RunStatus.FAILED:
        return SyncStatus.FAILED, _first_line(drift.error) or f"{drift.kind} failed"
    if drift is not None and drift.kind is RunKind.DRIFT and drift.status is RunStatus.DRIFTED:
        addresses = ", ".join(sorted({c.address for c in unexpected(drift.drift)})[:5])
        return SyncStatus.DRIFTED, f"live differs from Git: {addresses}".rstrip(": ")
    if state.out_of_sync:
        return SyncStatus.OUT_OF_SYNC, state.message
    if change is not None and change.status is RunStatus.INTERRUPTED:
        return SyncStatus.OUT_OF_SYNC, "the last run was interrupted: it will be reconciled again"
    if applied is not None:
        return SyncStatus.SYNCED, state.message
    return SyncStatus.UNKNOWN, state.message or "never applied"


def _newer_than(run: Run | None, other: Run | None) -> Run | None:
    if run is None or other is None:
        return run
    return run if run.started_at > other.started_at else None


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""


def declared_views(store: RunStore, manifest: Manifest | None) -> list[StackView]:
    """The stacks manifest declares (in its order), then the orphaned or renamed ones."""
    states = store.stack_states()
    declared = {s.name: s.engine for s in manifest.stacks} if manifest else {}
    names = list(declared) + sorted(
        n for n, s in states.items() if n not in declared and (s.orphaned or s.renamed_to)
    )
    recent = store.recent_runs_by_stack(names, per_stack=RECENT_RUNS)
    return [derive_view(n, runs, states.get(n), declared.get(n, "")) for n, runs in recent.items()]


def stack_views(store: RunStore, names: Iterable[str] | None = None) -> list[StackView]:
    """Every stack the daemon tracks or that has runs (or just names), by name.

    A fixed number of queries whatever the number of stacks and the length of their
    history: their states, their names, and their recent runs all in one.
    """
    states = store.stack_states()
    if names is None:
        names = sorted(set(states).union(store.stack_names()))
    recent = store.recent_runs_by_stack(names, per_stack=RECENT_RUNS)
    views = []
    for name, runs in recent.items():
        state = states.get(name)
        # A pruned stack is gone, unless a commit declares it again (desired_commit is
        # cleared when it is destroyed, set again when it comes back).
        if not pruned(runs) or (state is not None and state.desired_commit):
            views.append(derive_view(name, runs, state))
    return views


def pruned(runs: Sequence[Run]) -> bool:
    """The stack's last state change was its destruction."""
    change = last_state_change(runs)
    return change is not None and change.kind is RunKind.DESTROY


def diff_runs(runs: Sequence[Run]) -> tuple[Run | None, Run | None]:
    """(drift, plan) behind a stack's status (newest-first runs): the newest drift check
    since the last apply when it found drift (a heal since clears it, as in derive_view),
    and the newest plan since the last apply when it has changes."""
    applied = applied_run(runs)
    drift = _newer_than(next((r for r in runs if r.kind in _DRIFT_KINDS), None), applied)
    plan = _newer_than(next((r for r in runs if r.kind in _CHANGE_KINDS), None), applied)
    return (
        drift
        if drift and (drift.kind, drift.status) == (RunKind.DRIFT, RunStatus.DRIFTED)
        else None,
        plan if plan and (plan.kind, plan.status) == (RunKind.PLAN, RunStatus.CHANGES) else None,
    )
