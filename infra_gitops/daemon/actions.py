"""What a person asks of the daemon through its API, about one stack:

- sync: plan and apply the commit the branch declares, now, whatever auto_apply says;
- refresh: a drift check now, healing nothing;
- heal: a drift check now that applies the last applied commit back over the drift.

Each is checked before it is accepted, and refused with the reason otherwise: the stack
must be declared, the daemon must have read the branch and not be stopping, a sync or a
heal must not fall in a sync window that holds applies, a refresh or heal needs a commit
applied before, and one asked action per stack waits at a time (a double click queues
nothing twice). It then runs in the background, on the daemon's scheduler, under the
same stack guard, locks and guard rails as the daemon's own operations, and is recorded
as a run with the trigger `api:ACTION` and, as its actor, who asked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from infra_gitops import config
from infra_gitops.daemon import passes
from infra_gitops.daemon.contracts import ActionRefused, StackAction
from infra_gitops.daemon.reconcile import ActionKind
from infra_gitops.daemon.status import RECENT_RUNS, applied_run
from infra_gitops.daemon.windows import apply_hold
from infra_gitops.models import StackOutcome


@dataclass(frozen=True)
class Accepted:
    action: StackAction
    stack: str
    commit: str
    """The commit it runs at: the branch's head for a sync, the applied one otherwise."""
    trigger: str
    """What its run record's trigger will say."""
    actor: str
    """Who asked: the run record's actor."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": str(self.action),
            "stack": self.stack,
            "commit": self.commit,
            "trigger": self.trigger,
            "actor": self.actor,
        }


def prepare(
    ctx: passes.Context,
    manifest: config.Manifest | None,
    head: str | None,
    name: str,
    action: StackAction,
    actor: str,
) -> tuple[Accepted, Callable[[], object]]:
    """The accepted action and the work that carries it out; ActionRefused otherwise."""
    if manifest is None or head is None:
        raise ActionRefused(409, "the daemon has not reconciled the branch yet: try again soon")
    if name not in manifest.names:
        raise ActionRefused(404, f"no stack {name!r} in the manifest at {head[:10]}")
    if ctx.inflight.draining:
        raise ActionRefused(409, "the daemon is stopping")
    trigger = f"api:{action}"
    if action is not StackAction.REFRESH:
        hold = apply_hold(manifest.sync_windows, name, datetime.now(UTC))
        if hold is not None:
            raise ActionRefused(409, f"{name}: {hold}: no {action} now")
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
    return outcome
