"""Carrying decisions out: a reconcile pass over a commit, a drift check of one stack,
the pruning of stacks gone from the manifest (within the manifest's prune limits and
sync windows; renames are not prunes), and the record of a bad commit.

Every operation goes through StackRunner (locked, recorded), under the daemon's stack
guard and in-flight tracking, so a draining daemon starts nothing new. How a pass's
operations are carried out is the one seam between the embedded daemon and replicas
(Context.executor): here, in this process (LocalExecutor), or as jobs of a shared queue
that any replica's workers run (daemon/jobs.py). Deciding, dependency waves, reporting
and the stacks' saved states are the same path for both.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Protocol

from infra_gitops import config, git
from infra_gitops.core import Core
from infra_gitops.daemon.changes import ChangeIndex
from infra_gitops.daemon.contracts import Event, EventKind, SyncStatus
from infra_gitops.daemon.mirror import Mirror
from infra_gitops.daemon.reconcile import (
    DAEMON_TRIGGERS,
    ActionKind,
    Decision,
    Orphan,
    OrphanAction,
    OrphanDecision,
    StackFacts,
    decide,
    decide_orphan,
    detect_renames,
    pause_lifted,
    prune_order,
    prune_refusal,
)
from infra_gitops.daemon.reporting import Reporter
from infra_gitops.daemon.runtime import InFlight, LogProgress, Settings, StackGuard
from infra_gitops.daemon.status import RECENT_RUNS, applied_run, last_state_change
from infra_gitops.daemon.windows import apply_hold
from infra_gitops.errors import BadSourceError, GitOpsError
from infra_gitops.models import Commit, Run, RunKind, RunStatus, Stack, StackOutcome, unexpected
from infra_gitops.orchestrate import run_in_order
from infra_gitops.runs import RunStore, StackState
from infra_gitops.stackrun import StackRunner
from infra_gitops.view import View, ViewCache

log = logging.getLogger("infra_gitops.daemon")


@dataclass(frozen=True)
class Operation:
    """A decided operation of a pass: what to do to which stack, at which commit."""

    stack: Stack
    action: ActionKind
    """PLAN or APPLY (never NONE: nothing is carried out for it)."""
    commit: str
    trigger: str

    @property
    def kind(self) -> RunKind:
        return _run_kind(self.action)


def _run_kind(action: ActionKind) -> RunKind:
    return RunKind.APPLY if action is ActionKind.APPLY else RunKind.PLAN


class PassAbandoned(Exception):  # noqa: N818 (a state, not a failure of the commit)
    """The pass stopped before its operations ended: this replica no longer leads (or is
    stopping). Not a GitOpsError: nothing is reported as a failure of the commit, and
    the next pass (by whichever replica leads) decides afresh."""


class Executor(Protocol):
    """How a pass carries out its operations."""

    def parallelism(self, settings: Settings) -> int:
        """Operations of one dependency wave started at once."""

    def run(self, ctx: Context, op: Operation, runner: StackRunner) -> StackOutcome:
        """Carry op out; its outcome (with its finished run records) once it ended."""


class LocalExecutor:
    """The embedded daemon's: in this process, with the runner of the pass's commit."""

    def parallelism(self, settings: Settings) -> int:
        return settings.parallelism

    def run(self, ctx: Context, op: Operation, runner: StackRunner) -> StackOutcome:
        return _operate(ctx, runner, op.stack, op.action)


@dataclass
class Context:
    """What every pass and check uses; one per daemon."""

    settings: Settings
    core: Core
    """The run store, target, engines and outputs of stacks: opened once, for the
    daemon's life."""
    mirror: Mirror
    changes: ChangeIndex
    reporter: Reporter
    views: ViewCache
    """The commits in use (head, and those stacks were last applied at), each exported
    and parsed once and shared by the pass and every drift check on it."""
    guard: StackGuard = field(default_factory=StackGuard)
    inflight: InFlight = field(default_factory=InFlight)
    progress: LogProgress = field(default_factory=LogProgress)
    executor: Executor = field(default_factory=LocalExecutor)

    @property
    def store(self) -> RunStore:
        return self.core.store

    @contextmanager
    def at_commit(
        self, sha: str, trigger: str, *, lock_wait: float, actor: str | None = None
    ) -> Iterator[tuple[View, StackRunner]]:
        """The view of commit sha and a runner of operations on its stacks (recorded as
        run by actor, when a person asked for them)."""
        with self.views.view(sha) as view:
            runner = self.core.runner(view, self.progress, trigger=trigger, lock_wait=lock_wait)
            yield view, replace(runner, actor=actor)


@dataclass(frozen=True)
class PassResult:
    head: str
    manifest: config.Manifest | None
    """None when the commit's manifest is invalid (or could not be read)."""
    decisions: tuple[Decision, ...] = ()
    error: str | None = None
    retry: bool = False
    """The pass could not run for a reason that may pass (the cloud or the mirror)."""
    prunes_held: bool = False
    """A sync window holds the prune of a stack gone from the manifest."""
    interrupted: bool = False
    """An operation did not end (its replica died, or the stack was busy with an older
    job): the next pass decides afresh."""

    @property
    def pending(self) -> bool:
        """Something may change on a later pass at the same commit (a held apply or
        prune, a failure that may pass, an interrupted operation)."""
        return (
            self.retry
            or self.prunes_held
            or self.interrupted
            or any(d.held for d in self.decisions)
        )


# ---------------------------------------------------------------- commit pass


def reconcile_commit(
    ctx: Context, head: str, trigger: str, last_manifest: config.Manifest | None
) -> PassResult:
    """Plan/apply what the commit changes; prune or report stacks gone from the manifest.

    A commit that cannot be used (invalid manifest, unsafe files) is recorded once as a
    bad commit and never retried; other failures (the cloud, the mirror) are retried.
    """
    try:
        with ctx.at_commit(head, trigger, lock_wait=ctx.settings.lock_wait) as (view, runner):
            manifest = view.manifest
            # One query for every declared stack's recent runs, shared by the rename
            # check and the decisions (both read them before anything runs).
            recent = ctx.store.recent_runs_by_stack(manifest.names, per_stack=RECENT_RUNS)
            orphans = _find_renames(ctx, manifest, recent, _orphans(ctx, manifest), head)
            decisions, interrupted = _reconcile(ctx, manifest, recent, runner, head, orphans)
    except (config.ConfigError, BadSourceError) as exc:
        _record_bad_commit(ctx, head, trigger, exc, last_manifest)
        return PassResult(head, None, error=str(exc))
    except GitOpsError as exc:
        ctx.reporter.event(
            Event(EventKind.FAILED, f"cannot reconcile commit {head[:10]}: {exc}", commit=head),
            once_key=("pass-failed", head, str(exc)),
        )
        return PassResult(head, None, error=str(exc), retry=True)
    held = _handle_orphans(ctx, manifest, head, trigger, orphans)
    return PassResult(head, manifest, tuple(decisions), prunes_held=held, interrupted=interrupted)


def _reconcile(
    ctx: Context,
    manifest: config.Manifest,
    recent: Mapping[str, Sequence[Run]],
    runner: StackRunner,
    head: str,
    orphans: Sequence[Orphan],
) -> tuple[list[Decision], bool]:
    """The decisions, and whether an operation was interrupted."""
    now = datetime.now(UTC)
    states = ctx.store.stack_states()
    renamed_from = {o.renamed_to: o.stack for o in orphans if o.renamed_to and o.stack}
    decisions = {
        stack.name: decide(
            _facts(
                ctx,
                manifest,
                stack,
                recent[stack.name],
                states.get(stack.name),
                head,
                now,
                renamed_from.get(stack.name),
            )
        )
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
        trigger = runner.trigger

        def carry_out(stack: Stack) -> StackOutcome:
            op = Operation(stack, decisions[stack.name].action, head, trigger)
            return ctx.executor.run(ctx, op, runner)

        results = run_in_order(
            to_run, carry_out, parallelism=ctx.executor.parallelism(ctx.settings)
        )
        outcomes = {o.stack: o for o in results}
        report_outcomes(ctx, results, head)
    for stack in manifest.stacks:
        _save_state(ctx, stack.name, head, decisions[stack.name], outcomes.get(stack.name))
    interrupted = any(o.status is RunStatus.INTERRUPTED for o in outcomes.values())
    return list(decisions.values()), interrupted


def _facts(
    ctx: Context,
    manifest: config.Manifest,
    stack: Stack,
    runs: Sequence[Run],
    state: StackState | None,
    head: str,
    now: datetime,
    renamed_from: Stack | None,
) -> StackFacts:
    applied = applied_run(runs)
    base = applied.commit.sha if applied and not applied.commit.dirty else None
    # Destroyed, or never applied: everything the commit declares is to be applied.
    affected = stack.name in ctx.changes.touched(manifest, base, head)
    return StackFacts(
        stack=stack,
        desired_commit=head,
        applied_commit=base,
        affected=affected,
        last_run_here=_last_run_here(runs, head, last_state_change(runs)),
        paused=_still_paused(ctx, manifest, stack.name, state, head),
        hold=apply_hold(manifest.sync_windows, stack.name, now),
        renamed_from=renamed_from if applied is None else None,
    )


def _last_run_here(runs: Sequence[Run], head: str, changed: Run | None) -> Run | None:
    """The daemon's latest plan or apply at head made after the stack's last state
    change (an apply or a destroy): older ones say nothing about it as it is now."""
    for run in runs:
        if changed is not None and run.started_at < changed.started_at:
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
) -> str | None:
    """Why auto-apply of the stack is paused; None when it is not (a rollback's pause
    ends here with the first commit touching the stack; a pause by hand lasts until
    resumed)."""
    if state is None or not state.paused_at_commit:
        return None
    if state.paused_by:
        return f"auto-apply is paused by {state.paused_by} until resumed"
    touched = name in ctx.changes.touched(manifest, state.paused_at_commit, head)
    if pause_lifted(state.paused_at_commit, head, touched):
        ctx.store.update_stack_state(name, paused_at_commit=None, pause_reason=None)
        log.info(
            "%s: auto-apply resumes: commit %s touches it after the rollback",
            name,
            head[:10],
            extra={"event": "unpaused", "stack": name, "commit": head},
        )
        return None
    return "auto-apply is paused after a rollback until a commit touches the stack"


def run_operation(
    ctx: Context, name: str, action: ActionKind, sha: str, trigger: str, actor: str | None = None
) -> StackOutcome:
    """A decided operation carried out here, at commit sha (a replica's worker runs the
    jobs of the shared queue so): exactly as the embedded daemon carries it out."""
    kind = _run_kind(action)
    try:
        at = ctx.at_commit(sha, trigger, lock_wait=ctx.settings.lock_wait, actor=actor)
        with at as (view, runner):
            if name not in view.manifest.names:
                error = f"commit {sha[:10]} does not declare {name}"
                return StackOutcome(name, kind, RunStatus.FAILED, error=error)
            return _operate(ctx, runner, view.manifest.stack(name), action)
    except GitOpsError as exc:
        return StackOutcome(name, kind, RunStatus.FAILED, error=str(exc))


def _operate(ctx: Context, runner: StackRunner, stack: Stack, action: ActionKind) -> StackOutcome:
    kind = _run_kind(action)
    with ctx.guard.hold(stack.name), ctx.inflight.run() as allowed:
        if not allowed:
            return StackOutcome(stack.name, kind, RunStatus.SKIPPED, error="the daemon is stopping")
        if action is ActionKind.PLAN:
            return runner.plan(stack)
        # The runner keeps the outputs it applied for the stacks that read them.
        return runner.apply(stack, None)


def report_outcomes(ctx: Context, outcomes: Sequence[StackOutcome], head: str) -> None:
    # The finished records travel with the outcomes: nothing is read again.
    ctx.reporter.runs_finished(run for o in outcomes for run in o.runs)
    for o in outcomes:
        if o.kind is RunKind.APPLY and o.status is RunStatus.APPLIED:
            # An outcome from another replica carries its run record, not the plan.
            counts = o.plan.counts if o.plan else (o.run.counts if o.run else None)
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
        name,
        desired_commit=head,
        out_of_sync=out_of_sync,
        orphaned=False,
        renamed_to=None,
        message=message,
    )


# ---------------------------------------------------------------- bad commit


def _record_bad_commit(
    ctx: Context,
    head: str,
    trigger: str,
    error: config.ConfigError | BadSourceError,
    last_manifest: config.Manifest | None,
) -> None:
    """Once per commit: the reason kept with the commit (`status` shows it even when no
    stack is known), a failed plan run per known stack, one event. Nothing is applied
    and the last good state stays."""
    what = (
        "its manifest is invalid"
        if isinstance(error, config.ConfigError)
        else ("its files cannot be used")
    )
    message = f"commit {head[:10]} is not applied: {what}:\n{error}"
    if not ctx.store.record_bad_commit(head, message):
        return  # recorded already (by an earlier pass or an earlier daemon)
    commit = _commit(ctx, head)
    for name, engine in _known_stacks(ctx, last_manifest):
        run = ctx.store.start(name, RunKind.PLAN, trigger, commit, engine)
        ctx.store.finish(run.id, RunStatus.FAILED, error=message)
    ctx.reporter.event(
        Event(EventKind.BAD_COMMIT, message, commit=head), once_key=("bad-commit", head)
    )


def _known_stacks(ctx: Context, last_manifest: config.Manifest | None) -> list[tuple[str, str]]:
    """The stacks of the last good manifest; after a restart, those the records say are
    declared."""
    if last_manifest is not None:
        return [(s.name, s.engine) for s in last_manifest.stacks]
    known = []
    for name, state in ctx.store.stack_states().items():
        latest = ctx.store.latest(name)
        if state.desired_commit and not state.renamed_to and latest is not None:
            known.append((name, latest.engine))
    return known


def _commit(ctx: Context, sha: str) -> Commit:
    with git.open_repo(ctx.mirror.path) as repo:
        return git.resolve_commit(repo, sha)


# ---------------------------------------------------------------- drift


def check_drift(
    ctx: Context,
    name: str,
    manifest: config.Manifest,
    *,
    trigger: str = "daemon:drift",
    heal: bool | None = None,
    actor: str | None = None,
) -> StackOutcome | None:
    """Drift check of one stack against its last applied commit; heals when its policy
    says so (heal=None) or as asked (a person's refresh or heal: True or False), and no
    sync window holds applies. None when nothing ran (the stack is busy, never applied,
    or the daemon is stopping). A scheduled check skips a busy stack; one a person asked
    for (actor: who) waits its turn.

    Touches that stack only: its own records, and the cached view of its applied commit
    (exported once for every check and pass on that commit).
    """
    asked = actor is not None
    with ctx.guard.hold(name, blocking=asked) as free, ctx.inflight.run() as allowed:
        if not (free and allowed) or name not in manifest.names:
            return None
        applied = applied_run(ctx.store.list(stack=name, limit=RECENT_RUNS))
        if applied is None or applied.commit.dirty:
            return None
        policy = manifest.stack(name).policy
        # A person's heal passes the windows that allow manual syncs (manual_sync).
        hold = apply_hold(manifest.sync_windows, name, datetime.now(UTC), manual=asked)
        sha = applied.commit.sha
        wanted = policy.self_heal if heal is None else heal
        lock_wait = ctx.settings.lock_wait if asked else 0
        with ctx.at_commit(sha, trigger, lock_wait=lock_wait, actor=actor) as (view, runner):
            outcome = runner.drift(view.manifest.stack(name), heal=wanted and hold is None)
    if outcome.run_id is None:
        return None  # another run holds the stack: try at the next interval
    ctx.reporter.runs_finished(outcome.runs)
    _drift_events(ctx, outcome, sha, wanted, hold)
    return outcome


def _drift_events(
    ctx: Context, outcome: StackOutcome, sha: str, self_heal: bool, hold: str | None
) -> None:
    name = outcome.stack
    drifted = sorted({c.address for c in unexpected(outcome.plan.drift if outcome.plan else ())})
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


def _orphans(ctx: Context, manifest: config.Manifest) -> list[Orphan]:
    """Deployed stacks the manifest no longer declares, as their applied commit did."""
    gone = {n: s for n, s in ctx.store.stack_states().items() if not manifest.declares(n)}
    recent = ctx.store.recent_runs_by_stack(list(gone), per_stack=RECENT_RUNS)
    orphans = []
    for name, state in gone.items():
        applied = applied_run(recent[name])
        if applied is None:
            continue  # never deployed, or destroyed already
        old = ctx.changes.manifest_at(applied.commit.sha)
        declared = old.stack(name) if old is not None and name in old.names else None
        renamed_to = state.renamed_to if state.renamed_to in manifest.names else None
        orphans.append(Orphan(name, declared, applied.commit.sha, renamed_to))
    return orphans


def _find_renames(
    ctx: Context,
    manifest: config.Manifest,
    recent: Mapping[str, Sequence[Run]],
    orphans: list[Orphan],
    head: str,
) -> list[Orphan]:
    """Orphans with the renames this commit makes noted (and remembered: the old name is
    never pruned for it, whatever later commits do with the new one)."""
    newcomers = [s for s in manifest.stacks if applied_run(recent[s.name]) is None]
    gone = [o.stack for o in orphans if o.renamed_to is None and o.stack is not None]
    renames = detect_renames(gone, newcomers)
    for old, new in renames.items():
        ctx.store.update_stack_state(old, renamed_to=new, orphaned=False, message="")
        ctx.reporter.event(
            Event(EventKind.RENAMED, f"{old}: renamed to {new}", stack=old, commit=head),
            once_key=("renamed", old, new),
        )
        ctx.reporter.event(
            Event(EventKind.RENAMED, f"{new}: renamed from {old}", stack=new, commit=head),
            once_key=("renamed-from", new, old),
        )
    return [
        Orphan(o.name, o.stack, o.applied_commit, renames[o.name]) if o.name in renames else o
        for o in orphans
    ]


def _handle_orphans(
    ctx: Context, manifest: config.Manifest, head: str, trigger: str, orphans: Sequence[Orphan]
) -> bool:
    """Prune, hold or report each orphan; True when a sync window holds a prune."""
    if not orphans:
        return False
    recent = ctx.store.recent_runs_by_stack(manifest.names, per_stack=RECENT_RUNS)
    deployed = sum(1 for runs in recent.values() if applied_run(runs) is not None) + sum(
        1 for o in orphans if o.renamed_to is None
    )
    prunable = [o.name for o in orphans if o.prunable]
    refused = prune_refusal(prunable, deployed, manifest.prune, head)
    if refused is not None:
        _refuse_prunes(ctx, head, trigger, [o for o in orphans if o.prunable], refused)
    now = datetime.now(UTC)
    states = ctx.store.stack_states()
    held = False
    for orphan in prune_order(orphans):
        hold = apply_hold(manifest.sync_windows, orphan.name, now) if orphan.prunable else None
        decision = decide_orphan(orphan, refused=refused, hold=hold)
        held = held or decision.action is OrphanAction.HOLD
        if decision.destroy:
            _prune(ctx, orphan, head, trigger)
        else:
            _report_orphan(ctx, decision, states.get(orphan.name), head)
    return held


def _report_orphan(
    ctx: Context, decision: OrphanDecision, state: StackState | None, head: str
) -> None:
    """Keep the orphan's status and say it once (an event when its message changes)."""
    name = decision.stack
    if decision.action is OrphanAction.RENAMED:
        return  # its state says so already (renamed_to), and the rename was announced
    if state is not None and state.orphaned and state.message == decision.message:
        return
    ctx.store.update_stack_state(name, orphaned=True, renamed_to=None, message=decision.message)
    if decision.action is OrphanAction.REFUSED:
        return  # one event for the whole commit (_refuse_prunes)
    kind = EventKind.HELD if decision.action is OrphanAction.HOLD else EventKind.ORPHANED
    ctx.reporter.event(
        Event(kind, f"{name}: {decision.message}", stack=name, commit=head),
        once_key=("orphan", name, head, decision.message),
    )


def _refuse_prunes(
    ctx: Context, head: str, trigger: str, refused: Sequence[Orphan], message: str
) -> None:
    """Nothing is destroyed: a skipped destroy run per stack (in `history`), one event.
    Once per commit."""
    if ctx.store.list(kind=RunKind.DESTROY, commit=head, status=RunStatus.SKIPPED, limit=1):
        return
    commit = _commit(ctx, head)
    for orphan in refused:
        engine = orphan.stack.engine if orphan.stack is not None else ""
        run = ctx.store.start(orphan.name, RunKind.DESTROY, trigger, commit, engine)
        ctx.store.finish(run.id, RunStatus.SKIPPED, error=message)
    ctx.reporter.event(
        Event(
            EventKind.PRUNE_REFUSED,
            message,
            commit=head,
            details={"stacks": sorted(o.name for o in refused)},
        ),
        once_key=("prune-refused", head),
    )


def _prune(ctx: Context, orphan: Orphan, head: str, trigger: str) -> None:
    """Destroy an orphan at its last applied commit, through the runner."""
    name, sha = orphan.name, orphan.applied_commit
    with ctx.guard.hold(name), ctx.inflight.run() as allowed:
        if not allowed:
            return
        try:
            with ctx.at_commit(sha, trigger, lock_wait=ctx.settings.lock_wait) as (view, runner):
                outcome = runner.destroy(view.manifest.stack(name))
        except GitOpsError as exc:
            outcome = StackOutcome(name, RunKind.DESTROY, RunStatus.FAILED, error=str(exc))
    ctx.reporter.runs_finished(outcome.runs)
    if outcome.status is RunStatus.APPLIED:
        # No commit declares it any more: `status` stops listing it (until one does).
        ctx.store.update_stack_state(
            name, orphaned=False, renamed_to=None, desired_commit=None, message="pruned"
        )
        kind, message = EventKind.PRUNED, f"{name}: removed from the manifest: destroyed"
    else:
        failure = f"prune failed: {_first(outcome.error)}"
        ctx.store.update_stack_state(name, orphaned=True, message=failure)
        kind, message = EventKind.FAILED, f"{name}: {failure}"
    ctx.reporter.event(Event(kind, message, stack=name, commit=head, run_id=outcome.run_id))


def _first(text: str | None) -> str:
    stripped = (text or "").strip()
    return stripped.splitlines()[0] if stripped else "(no message)"
