"""What to do with each stack: pure decisions from facts (desired vs applied commit,
policies, sync windows, pauses, the runs already made at the desired commit).

The daemon gathers the facts (git, run records), calls decide(), then carries the
decisions out (daemon.passes). Keeping the rules here, free of I/O, keeps them readable
and testable one by one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from infra_gitops.daemon.contracts import SyncStatus
from infra_gitops.models import Run, RunKind, RunStatus, Stack

DAEMON_TRIGGERS = ("daemon:commit", "webhook")
"""Triggers of the runs the daemon makes for a new commit (drift has its own)."""


class ActionKind(StrEnum):
    NONE = "none"
    PLAN = "plan"
    APPLY = "apply"


@dataclass(frozen=True)
class StackFacts:
    stack: Stack
    """As the desired commit declares it."""
    desired_commit: str
    applied_commit: str | None
    affected: bool
    """The desired commit changes the stack compared with the applied one (its files,
    local modules or manifest entry, or one of its dependencies')."""
    last_run_here: Run | None
    """The daemon's latest plan or apply of the stack at the desired commit, made after
    the last apply (older ones say nothing about the stack as it is now)."""
    paused: bool = False
    """Auto-apply paused (after a rollback) until a commit touches the stack again."""
    hold: str | None = None
    """Why a sync window holds applies now, if it does."""


@dataclass(frozen=True)
class Decision:
    stack: str
    action: ActionKind
    status: SyncStatus
    """What the stack is until the action is done (or for good, with no action)."""
    message: str = ""
    held: bool = False
    """An apply is held (window or pause): worth an Event(HELD) once per commit."""


def decide(facts: StackFacts) -> Decision:
    name = facts.stack.name
    if not facts.affected:
        return Decision(name, ActionKind.NONE, SyncStatus.SYNCED)
    last = facts.last_run_here
    pending = f"commit {facts.desired_commit[:10]} changes the stack"
    retry = last is None or last.status is RunStatus.INTERRUPTED
    if last is not None and last.status is RunStatus.FAILED:
        return Decision(
            name,
            ActionKind.NONE,
            SyncStatus.FAILED,
            f"{last.kind} of commit {facts.desired_commit[:10]} failed (run {last.id}); "
            "waiting for a new commit",
        )
    blocker = _why_not_applied(facts)
    if blocker is not None:
        action = ActionKind.PLAN if retry else ActionKind.NONE
        return Decision(
            name, action, SyncStatus.OUT_OF_SYNC, f"{pending}; {blocker}", held=blocker != _MANUAL
        )
    if retry or (last is not None and last.kind is RunKind.PLAN):
        # Never tried here, interrupted, or only planned while held: apply now.
        return Decision(name, ActionKind.APPLY, SyncStatus.PROGRESSING, pending)
    assert last is not None
    # Skipped (a dependency failed) or applied: nothing more to do at this commit.
    return Decision(name, ActionKind.NONE, SyncStatus.OUT_OF_SYNC, last.error or pending)


_MANUAL = "auto-apply is off for it: apply it with `infra-gitops apply`"


def _why_not_applied(facts: StackFacts) -> str | None:
    if not facts.stack.policy.auto_apply:
        return _MANUAL
    if facts.paused:
        return "auto-apply is paused after a rollback until a commit touches the stack"
    return facts.hold


def pause_lifted(paused_at: str, head: str, touched_since_pause: bool) -> bool:
    """A pause ends with the first commit after it that touches the stack."""
    return head != paused_at and touched_since_pause


@dataclass(frozen=True)
class OrphanDecision:
    stack: str
    destroy: bool
    message: str


def decide_orphan(name: str, prune: bool, applied_commit: str) -> OrphanDecision:
    """A stack gone from the manifest but still deployed (applied at applied_commit)."""
    if prune:
        return OrphanDecision(name, True, "removed from the manifest; prune is on: destroying")
    return OrphanDecision(
        name,
        False,
        f"removed from the manifest but still deployed (applied at {applied_commit[:10]}); "
        "prune is off for it, so it is left as it is",
    )
