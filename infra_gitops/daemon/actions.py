"""What a person asks of the daemon through its API, about one stack:

- sync: plan and apply the commit the branch declares, now, whatever auto_apply says;
- refresh: a drift check now, healing nothing;
- heal: a drift check now that applies the last applied commit back over the drift;
- pause / resume: auto-apply of the stack stops until resumed / goes on (a resume also
  lifts a rollback's pause);
- rollback: the existing rollback (daemon/rollback.py) to a commit: a revert commit on
  the branch (or a pause), then the stack applied as that commit declared it.

Each is checked before it is accepted, and refused with the reason otherwise: the stack
must be declared, the daemon must have read the branch and not be stopping, a sync, heal
or rollback must not fall in a sync window that holds applies (windows with manual_sync
let a person's through), a refresh or heal needs a commit applied before, a rollback a
commit the mirror has, and one asked action per stack waits at a time (a double click
queues nothing twice). Pause and resume are done at once; the others run in the
background, on the daemon's scheduler, under the same stack guard, locks and guard rails
as the daemon's own operations, and are recorded as runs with the trigger `api:ACTION`
(`rollback` for a rollback, as from the CLI) and, as their actor, who asked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from infra_gitops import config, git
from infra_gitops.daemon import passes
from infra_gitops.daemon.contracts import ActionRefused, Event, EventKind, StackAction
from infra_gitops.daemon.reconcile import ActionKind
from infra_gitops.daemon.rollback import RollbackRequest, roll_back
from infra_gitops.daemon.runtime import LogProgress
from infra_gitops.daemon.status import RECENT_RUNS, applied_run
from infra_gitops.daemon.windows import apply_hold
from infra_gitops.errors import GitError
from infra_gitops.models import RunStatus, StackOutcome

log = logging.getLogger("infra_gitops.daemon")

Work = Callable[[], object]


@dataclass(frozen=True)
class Accepted:
    action: StackAction
    stack: str
    commit: str
    """The commit it runs at: the branch's head for a sync or a pause, the applied one
    for a refresh or heal, the target of a rollback."""
    trigger: str
    """What its run record's trigger will say."""
    actor: str
    """Who asked: the run record's actor."""
    done: bool = False
    """Carried out already (pause, resume); else running in the background."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": str(self.action),
            "stack": self.stack,
            "commit": self.commit,
            "trigger": self.trigger,
            "actor": self.actor,
            "done": self.done,
        }


def prepare(
    ctx: passes.Context,
    manifest: config.Manifest | None,
    head: str | None,
    name: str,
    action: StackAction,
    actor: str,
    commit: str | None = None,
) -> tuple[Accepted, Work | None]:
    """The accepted action and the work that carries it out (None: done already);
    ActionRefused otherwise."""
    if manifest is None or head is None:
        raise ActionRefused(409, "the daemon has not reconciled the branch yet: try again soon")
    if name not in manifest.names:
        raise ActionRefused(404, f"no stack {name!r} in the manifest at {head[:10]}")
    if ctx.inflight.draining:
        raise ActionRefused(409, "the daemon is stopping")
    trigger = f"api:{action}"
    if action in (StackAction.SYNC, StackAction.HEAL, StackAction.ROLLBACK):
        hold = apply_hold(manifest.sync_windows, name, datetime.now(UTC), manual=True)
        if hold is not None:
            raise ActionRefused(409, f"{name}: {hold}: no {action} now")
    if action is StackAction.PAUSE or action is StackAction.RESUME:
        _pause(ctx, name, head, actor, pause=action is StackAction.PAUSE)
        return Accepted(action, name, head, trigger, actor, done=True), None
    if action is StackAction.ROLLBACK:
        target = _commit_in_mirror(ctx, commit)
        request = RollbackRequest(
            stack=name,
            to=target,
            remote=ctx.settings.repo,
            branch=ctx.settings.branch,
            reason=f"asked by {actor} through the API",
            lock_wait=ctx.settings.lock_wait,
            timeout=ctx.settings.timeout,
            database_url=ctx.settings.database_url,
            artifact_store=ctx.settings.artifact_store,
            actor=actor,
        )
        rollback = partial(roll_back, ctx.settings.state_dir, request, LogProgress())
        return Accepted(action, name, target, "rollback", actor), rollback
    if action is StackAction.SYNC:
        sync = partial(_sync, ctx, name, head, trigger, actor)
        return Accepted(action, name, head, trigger, actor), sync
    applied = applied_run(ctx.store.list(stack=name, limit=RECENT_RUNS))
    if applied is None:
        raise ActionRefused(409, f"{name} was never applied: nothing to {action} (sync it first)")
    heal = action is StackAction.HEAL
    work = partial(passes.check_drift, ctx, name, manifest, trigger=trigger, heal=heal, actor=actor)
    return Accepted(action, name, applied.commit.sha, trigger, actor), work


def _sync(ctx: passes.Context, name: str, head: str, trigger: str, actor: str) -> StackOutcome:
    outcome = passes.run_operation(ctx, name, ActionKind.APPLY, head, trigger, actor)
    passes.report_outcomes(ctx, [outcome], head)
    if outcome.status in (RunStatus.APPLIED, RunStatus.NO_CHANGES):
        # What the last pass saved (out of sync: auto-apply off) is no longer so.
        ctx.store.update_stack_state(name, desired_commit=head, out_of_sync=False, message="")
    return outcome


def _pause(ctx: passes.Context, name: str, head: str, actor: str, *, pause: bool) -> None:
    state = ctx.store.stack_state(name)
    paused_by = state.paused_by if state and state.paused_at_commit else None
    after_rollback = bool(state and state.paused_at_commit and not state.paused_by)
    if pause and paused_by:
        raise ActionRefused(409, f"auto-apply of {name} is paused already, by {paused_by}")
    if not pause and not (paused_by or after_rollback):
        raise ActionRefused(409, f"auto-apply of {name} is not paused")
    if pause:
        reason = f"paused by {actor} through the API"
        ctx.store.update_stack_state(
            name, paused_at_commit=head, pause_reason=reason, paused_by=actor
        )
        kind, message = EventKind.PAUSED, f"{name}: auto-apply paused by {actor} until resumed"
    else:
        ctx.store.update_stack_state(name, paused_at_commit=None, pause_reason=None, paused_by=None)
        kind, message = EventKind.RESUMED, f"{name}: auto-apply resumed by {actor}"
    log.info("%s", message, extra={"event": str(kind), "stack": name})
    ctx.reporter.event(Event(kind, message, stack=name, commit=head, details={"actor": actor}))


def _commit_in_mirror(ctx: passes.Context, commit: str | None) -> str:
    """The full SHA of a rollback's target; 400 or 404 when there is none."""
    if not commit:
        raise ActionRefused(400, 'a rollback needs the commit to go back to: {"commit": "SHA"}')
    try:
        with git.open_repo(ctx.mirror.path) as repo:
            return git.resolve_commit(repo, commit).sha
    except GitError:
        raise ActionRefused(404, f"no commit {commit!r} in the repository") from None
