"""Carrying decisions out: a reconcile pass over a commit, a drift check of one stack,
the pruning of stacks gone from the manifest, and the record of a bad commit.

Every operation goes through StackRunner (locked, recorded), under the daemon's stack
guard and in-flight tracking, so a draining daemon starts nothing new.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from infra_gitops import config, git
from infra_gitops.daemon.changes import ChangeIndex
from infra_gitops.daemon.contracts import Event, EventKind, SyncStatus
from infra_gitops.daemon.mirror import Mirror
from infra_gitops.daemon.reconcile import (
    DAEMON_TRIGGERS,
    ActionKind,
    Decision,
    StackFacts,
    decide,
    decide_orphan,
    pause_lifted,
)
from infra_gitops.daemon.reporting import Reporter
from infra_gitops.daemon.runtime import InFlight, LogProgress, Settings, StackGuard
from infra_gitops.daemon.status import RECENT_RUNS, applied_run, pruned
from infra_gitops.daemon.windows import apply_hold
from infra_gitops.errors import GitOpsError
from infra_gitops.locking import stack_lock
from infra_gitops.models import Run, RunKind, RunStatus, Stack, StackOutcome
from infra_gitops.orchestrate import run_in_order
from infra_gitops.runs import RunStore, StackState
from infra_gitops.session import Options, Session, open_session

log = logging.getLogger("infra_gitops.daemon")


@dataclass
class Context:
    """What every pass and check uses; one per daemon."""

    settings: Settings
    store: RunStore
    mirror: Mirror
    changes: ChangeIndex
    reporter: Reporter
    guard: StackGuard = field(default_factory=StackGuard)
    inflight: InFlight = field(default_factory=InFlight)
    progress: LogProgress = field(default_factory=LogProgress)

    @contextmanager
    def session(self, ref: str, trigger: str, *, lock_wait: float) -> Iterator[Session]:
        options = Options(
            repo=self.mirror.path,
            state_dir=self.settings.state_dir,
            ref=ref,
            parallelism=self.settings.parallelism,
            timeout=self.settings.timeout,
            lock_wait=lock_wait,
            trigger=trigger,
        )
        with open_session(options, self.progress, store=self.store) as session:
            yield session


@dataclass(frozen=True)
class PassResult:
    head: str
    manifest: config.Manifest | None
    """None when the commit's manifest is invalid (or could not be read)."""
    decisions: tuple[Decision, ...] = ()
    error: str | None = None
    retry: bool = False
    """The pass could not run for a reason that may pass (the cloud or the mirror)."""

    @property
    def pending(self) -> bool:
        """Something may change on a later pass at the same commit (a held apply, a
        failure that may pass)."""
        return self.retry or any(d.held for d in self.decisions)


# ---------------------------------------------------------------- commit pass


def reconcile_commit(
    ctx: Context, head: str, trigger: str, last_manifest: config.Manifest | None
) -> PassResult:
    """Plan/apply what the commit changes; report stacks gone from the manifest."""
    try:
        with ctx.session(head, trigger, lock_wait=ctx.settings.lock_wait) as session:
            decisions = _reconcile(ctx, session, head)
            manifest = session.manifest
    except config.ConfigError as exc:
        _record_bad_commit(ctx, head, trigger, exc, last_manifest)
        return PassResult(head, None, error=str(exc))
    except GitOpsError as exc:
        ctx.reporter.event(
            Event(EventKind.FAILED, f"cannot reconcile commit {head[:10]}: {exc}", commit=head),
            once_key=("pass-failed", head, str(exc)),
        )
        return PassResult(head, None, error=str(exc), retry=True)
    _handle_orphans(ctx, manifest, head, trigger)
    return PassResult(head, manifest, tuple(decisions))


def _reconcile(ctx: Context, session: Session, head: str) -> list[Decision]:
    manifest = session.manifest
    now = datetime.now(UTC)
    states = ctx.store.stack_states()
    decisions = {
        stack.name: decide(_facts(ctx, manifest, stack, states.get(stack.name), head, now))
        for stack in manifest.stacks
    }
    for d in decisions.values():
        if d.held:
            ctx.reporter.event(
                Event(EventKind.HELD, f"{d.stack}: {d.message}", stack=d.stack, commit=head),
                once_key=("held", d.stack, head, d.message),
            )
    to_run = [s for s in manifest.stacks if decisions[s.name].action is not ActionKind.NONE]
    outcomes: dict[str, StackOutcome] = {}
    if to_run:
        results = run_in_order(
            to_run,
            lambda stack: _operate(ctx, session, stack, decisions[stack.name].action),
            parallelism=ctx.settings.parallelism,
        )
        outcomes = {o.stack: o for o in results}
        _report_outcomes(ctx, results, head)
    for stack in manifest.stacks:
        _save_state(ctx, stack.name, head, decisions[stack.name], outcomes.get(stack.name))
    return list(decisions.values())


def _facts(
    ctx: Context,
    manifest: config.Manifest,
    stack: Stack,
    state: StackState | None,
    head: str,
    now: datetime,
) -> StackFacts:
    runs = ctx.store.list(stack=stack.name, limit=RECENT_RUNS)
    applied = applied_run(runs)
    base = applied.commit.sha if applied and not applied.commit.dirty else None
    affected = stack.name in ctx.changes.touched(manifest, base, head)
    return StackFacts(
        stack=stack,
        desired_commit=head,
        applied_commit=base,
        affected=affected,
        last_run_here=_last_run_here(runs, head, applied),
        paused=_still_paused(ctx, manifest, stack.name, state, head),
        hold=apply_hold(manifest.sync_windows, stack.name, now),
    )


def _last_run_here(runs: Sequence[Run], head: str, applied: Run | None) -> Run | None:
    for run in runs:
        if applied is not None and run.started_at < applied.started_at:
            return None
        if (
            run.commit.sha == head
            and run.kind in (RunKind.PLAN, RunKind.APPLY)
            and run.trigger in DAEMON_TRIGGERS
        ):
            return run
    return None


def _still_paused(
    ctx: Context, manifest: config.Manifest, name: str, state: StackState | None, head: str
) -> bool:
    if state is None or not state.paused_at_commit:
        return False
    touched = name in ctx.changes.touched(manifest, state.paused_at_commit, head)
    if pause_lifted(state.paused_at_commit, head, touched):
        ctx.store.update_stack_state(name, paused_at_commit=None, pause_reason=None)
        log.info(
            "%s: auto-apply resumes: commit %s touches it after the rollback",
            name,
            head[:10],
            extra={"event": "unpaused", "stack": name, "commit": head},
        )
        return False
    return True


def _operate(ctx: Context, session: Session, stack: Stack, action: ActionKind) -> StackOutcome:
    kind = RunKind.APPLY if action is ActionKind.APPLY else RunKind.PLAN
    with ctx.guard.hold(stack.name), ctx.inflight.run() as allowed:
        if not allowed:
            return StackOutcome(stack.name, kind, RunStatus.SKIPPED, error="the daemon is stopping")
        if action is ActionKind.PLAN:
            return session.runner.plan(stack)
        outcome = session.runner.apply(stack, None)
        if outcome.outputs is not None:
            session.outputs.put(stack.name, outcome.outputs)
        return outcome


def _report_outcomes(ctx: Context, outcomes: Sequence[StackOutcome], head: str) -> None:
    runs = [ctx.store.get(o.run_id) for o in outcomes if o.run_id]
    ctx.reporter.runs_finished(runs)
    for o in outcomes:
        if o.kind is RunKind.APPLY and o.status is RunStatus.APPLIED:
            counts = o.plan.counts if o.plan else None
            ctx.reporter.event(
                Event(
                    EventKind.APPLIED,
                    f"{o.stack}: applied commit {head[:10]} ({counts})",
                    stack=o.stack,
                    commit=head,
                    run_id=o.run_id,
                    details=counts.to_dict() if counts else {},
                )
            )
        elif o.status is RunStatus.FAILED and o.run_id:
            ctx.reporter.event(
                Event(
                    EventKind.FAILED,
                    f"{o.stack}: {o.kind} of commit {head[:10]} failed: {_first(o.error)}",
                    stack=o.stack,
                    commit=head,
                    run_id=o.run_id,
                )
            )


def _save_state(
    ctx: Context, name: str, head: str, decision: Decision, outcome: StackOutcome | None
) -> None:
    out_of_sync = decision.status is SyncStatus.OUT_OF_SYNC
    message = decision.message if out_of_sync else ""
    if outcome is not None:
        done = outcome.kind is RunKind.APPLY and outcome.status in (
            RunStatus.APPLIED,
            RunStatus.NO_CHANGES,
        )
        out_of_sync = not done and outcome.status is not RunStatus.FAILED
        if outcome.status is RunStatus.SKIPPED:
            message = outcome.error or "skipped"
    ctx.store.update_stack_state(
        name, desired_commit=head, out_of_sync=out_of_sync, orphaned=False, message=message
    )


# ---------------------------------------------------------------- bad commit


def _record_bad_commit(
    ctx: Context,
    head: str,
    trigger: str,
    error: config.ConfigError,
    last_manifest: config.Manifest | None,
) -> None:
    """A failed plan run per stack of the last good manifest (once per commit): nothing
    is applied, the last good state stays, and `history` and `status` say why."""
    if ctx.store.list(commit=head, limit=1):
        return
    with git.open_repo(ctx.mirror.path) as repo:
        commit = git.resolve_commit(repo, head)
    message = f"commit {head[:10]} is not applied: its manifest is invalid:\n{error}"
    for stack in last_manifest.stacks if last_manifest else ():
        run = ctx.store.start(stack.name, RunKind.PLAN, trigger, commit, stack.engine)
        ctx.store.finish(run.id, RunStatus.FAILED, error=message)
    ctx.reporter.event(Event(EventKind.FAILED, message, commit=head), once_key=("bad-commit", head))


# ---------------------------------------------------------------- drift


def check_drift(ctx: Context, name: str, manifest: config.Manifest) -> StackOutcome | None:
    """Drift check of one stack against its last applied commit; heals when its policy
    says so and no sync window holds applies. None when nothing ran (the stack is busy,
    never applied, or the daemon is stopping)."""
    with ctx.guard.hold(name, blocking=False) as free, ctx.inflight.run() as allowed:
        if not (free and allowed) or name not in manifest.names:
            return None
        applied = applied_run(ctx.store.list(stack=name, limit=RECENT_RUNS))
        if applied is None or applied.commit.dirty:
            return None
        policy = manifest.stack(name).policy
        hold = apply_hold(manifest.sync_windows, name, datetime.now(UTC))
        started = datetime.now(UTC).isoformat(timespec="microseconds")
        sha = applied.commit.sha
        with ctx.session(sha, "daemon:drift", lock_wait=0) as session:
            outcome = session.runner.drift(
                session.manifest.stack(name), heal=policy.self_heal and hold is None
            )
    if outcome.run_id is None:
        return None  # another run holds the stack: try at the next interval
    runs = [r for r in ctx.store.list(stack=name, limit=5) if r.started_at >= started]
    ctx.reporter.runs_finished(reversed(runs))
    _drift_events(ctx, outcome, sha, policy.self_heal, hold)
    return outcome


def _drift_events(
    ctx: Context, outcome: StackOutcome, sha: str, self_heal: bool, hold: str | None
) -> None:
    name = outcome.stack
    drifted = sorted({c.address for c in (outcome.plan.drift if outcome.plan else ())})
    details = {"resources": drifted[:20]}
    if outcome.status is RunStatus.FAILED:
        kind, message = EventKind.FAILED, f"{name}: drift check failed: {_first(outcome.error)}"
    elif outcome.status is not RunStatus.DRIFTED:
        return
    elif outcome.heal_plan is not None:
        kind, message = EventKind.HEALED, f"{name}: drift healed back to {sha[:10]}: {drifted}"
    else:
        why = hold if self_heal and hold else "self-heal is off"
        kind, message = EventKind.DRIFT, f"{name}: live differs from {sha[:10]}: {drifted} ({why})"
    ctx.reporter.event(
        Event(kind, message, stack=name, commit=sha, run_id=outcome.run_id, details=details)
    )


# ---------------------------------------------------------------- orphans


def _handle_orphans(ctx: Context, manifest: config.Manifest, head: str, trigger: str) -> None:
    for name, state in ctx.store.stack_states().items():
        if name in manifest.names:
            continue
        runs = ctx.store.list(stack=name, limit=RECENT_RUNS)
        applied = applied_run(runs)
        if applied is None or pruned(runs):
            continue
        old = ctx.changes.manifest_at(applied.commit.sha)
        prune = old is not None and name in old.names and old.stack(name).policy.prune
        decision = decide_orphan(name, prune, applied.commit.sha)
        if decision.destroy:
            _prune(ctx, name, applied.commit.sha, trigger)
        elif not state.orphaned:
            ctx.store.update_stack_state(name, orphaned=True, message=decision.message)
            ctx.reporter.event(
                Event(EventKind.ORPHANED, f"{name}: {decision.message}", stack=name, commit=head)
            )


def _prune(ctx: Context, name: str, sha: str, trigger: str) -> None:
    with ctx.guard.hold(name), ctx.inflight.run() as allowed:
        if not allowed:
            return
        with ctx.session(sha, trigger, lock_wait=ctx.settings.lock_wait) as session:
            run = destroy_stack(session, session.manifest.stack(name), ctx.settings.lock_wait)
    ctx.reporter.runs_finished([run])
    if run.status is RunStatus.APPLIED:
        ctx.store.update_stack_state(name, orphaned=False, message="pruned")
        kind, message = EventKind.PRUNED, f"{name}: removed from the manifest: destroyed"
    else:
        kind, message = EventKind.FAILED, f"{name}: prune failed: {_first(run.error)}"
    ctx.reporter.event(Event(kind, message, stack=name, commit=sha, run_id=run.id))


def destroy_stack(session: Session, stack: Stack, lock_wait: float) -> Run:
    """Destroy a stack's resources, locked and recorded as a destroy run."""
    store = session.store
    state_dir = session.options.state_dir
    with stack_lock(state_dir, stack.name, wait=lock_wait) as lock:
        run = store.start(
            stack.name,
            RunKind.DESTROY,
            session.options.trigger,
            session.source.commit,
            stack.engine,
        )
        lock.update(run_id=run.id)
        log_file = state_dir / "logs" / f"{run.id}.log"
        log_file.parent.mkdir(parents=True, exist_ok=True)
        try:
            engine = session.runner.engine_for(stack)
            ws = session.runner.workspace_for(stack, log_file)
            engine.prepare(ws)
            result = engine.destroy(ws)
        except GitOpsError as exc:
            return store.finish(run.id, RunStatus.FAILED, error=str(exc))
        finally:
            _keep_log(store, run.id, log_file)
        return store.finish(
            run.id, RunStatus.APPLIED, counts=result.counts, engine_version=result.engine_version
        )


def _keep_log(store: RunStore, run_id: str, log_file: Path) -> None:
    if log_file.exists():
        store.attach(run_id, "log.txt", log_file)
        log_file.unlink(missing_ok=True)


def _first(text: str | None) -> str:
    stripped = (text or "").strip()
    return stripped.splitlines()[0] if stripped else "(no message)"
