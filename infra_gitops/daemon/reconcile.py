"""What to do with each stack: pure decisions from facts (desired vs applied commit,
policies, sync windows, pauses, the runs already made at the desired commit).

The daemon gathers the facts (git, run records), calls decide(), then carries the
decisions out (daemon.passes). Keeping the rules here, free of I/O, keeps them readable
and testable one by one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from infra_gitops.config.prune import PruneLimits
from infra_gitops.daemon.contracts import SyncStatus
from infra_gitops.models import Run, RunKind, RunStatus, Stack
from infra_gitops.statekeys import default_state_key

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
    paused: str | None = None
    """Why auto-apply is paused (after a rollback, until a commit touches the stack
    again; or by hand, until resumed); None when it is not."""
    hold: str | None = None
    """Why a sync window holds applies now, if it does."""
    renamed_from: Stack | None = None
    """The deployed stack this one replaces under a new name (same path, engine and
    workspace), while this one is not deployed yet."""


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
    if facts.renamed_from is not None:
        pending = f"renamed from {facts.renamed_from.name}; {pending}"
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
    old = facts.renamed_from
    if old is not None and not rename_keeps_state(old, facts.stack):
        return rename_hold_message(old, facts.stack)
    if not facts.stack.policy.auto_apply:
        return _MANUAL
    return facts.paused or facts.hold


def pause_lifted(paused_at: str, head: str, touched_since_pause: bool) -> bool:
    """A pause ends with the first commit after it that touches the stack."""
    return head != paused_at and touched_since_pause


# ---------------------------------------------------------------- renames


def detect_renames(gone: Sequence[Stack], newcomers: Sequence[Stack]) -> dict[str, str]:
    """Old name -> new name for stacks that left the manifest while a stack that is not
    deployed yet appeared with the same path, engine and workspace.

    gone: deployed stacks the manifest no longer declares (as they were declared).
    newcomers: declared stacks that are not deployed. Only one-to-one pairs count: when
    two stacks could be the one renamed, no guess is made.
    """

    def where(stack: Stack) -> tuple[str, str, str]:
        return (stack.path, stack.engine, stack.workspace)

    old_by_place: dict[tuple[str, str, str], list[Stack]] = {}
    for stack in gone:
        old_by_place.setdefault(where(stack), []).append(stack)
    new_by_place: dict[tuple[str, str, str], list[Stack]] = {}
    for stack in newcomers:
        new_by_place.setdefault(where(stack), []).append(stack)
    return {
        olds[0].name: new_by_place[place][0].name
        for place, olds in old_by_place.items()
        if len(olds) == 1 and len(new_by_place.get(place, ())) == 1
    }


def rename_keeps_state(old: Stack, new: Stack) -> bool:
    """The new name resolves to the old one's state key: it continues the same
    infrastructure. Otherwise its state starts empty and an apply creates duplicates."""
    return state_key(old) == state_key(new)


def state_key(stack: Stack) -> str:
    """The stack's state key: the explicit `backend: {key: ...}`, else the default the
    backend gets (NAME/terraform.tfstate, as the sandbox's backend already does)."""
    return str(stack.backend_config.get("key") or default_state_key(stack.name))


def rename_hold_message(old: Stack, new: Stack) -> str:
    return (
        f"its state ({state_key(new)}) is not {old.name}'s ({state_key(old)}): an apply "
        f"would create {old.name}'s resources again; auto-apply is held: keep the state "
        f"key (backend: {{key: {state_key(old)}}}) or apply {new.name} by hand"
    )


# ---------------------------------------------------------------- orphans


class OrphanAction(StrEnum):
    KEEP = "keep"
    """prune is off: left as it is, Orphaned."""
    CONFIRM = "confirm"
    """prune: confirm: only a person's `infra-gitops prune --confirm` destroys it."""
    RENAMED = "renamed"
    """A new name took its place: never pruned for it."""
    REFUSED = "refused"
    """The commit would prune more than the manifest's prune limits allow."""
    HOLD = "hold"
    """A sync window holds it: pruned once the window allows it."""
    DESTROY = "destroy"


@dataclass(frozen=True)
class Orphan:
    """A deployed stack the desired commit no longer declares."""

    name: str
    stack: Stack | None
    """As its applied commit declared it; None when that manifest cannot be read."""
    applied_commit: str
    renamed_to: str | None = None

    @property
    def prunable(self) -> bool:
        """Its prune policy would have the daemon destroy it (the guard's count)."""
        return (
            self.renamed_to is None
            and self.stack is not None
            and self.stack.policy.prunes_automatically
        )


@dataclass(frozen=True)
class OrphanDecision:
    stack: str
    action: OrphanAction
    message: str

    @property
    def destroy(self) -> bool:
        return self.action is OrphanAction.DESTROY


def prune_refusal(
    prunable: Sequence[str], deployed: int, limits: PruneLimits, commit: str
) -> str | None:
    """Why the commit may not prune these stacks at all, or None when it may.

    deployed counts the stacks whose last state change left them deployed, the prunable
    ones included. Pruning every one of them needs allow_empty (the limits then do not
    apply: emptying was asked for); otherwise at most max(max_stacks, max_percent% of
    the deployed, rounded down) go in one commit. Over the limit nothing is pruned, not
    even the first few: which ones would be is not for the daemon to choose.
    """
    count = len(prunable)
    if count == 0:
        return None
    names = ", ".join(sorted(prunable))
    head = f"prune refused: commit {commit[:10]} would prune {count} of {deployed} deployed "
    head += f"stack{'s' if deployed != 1 else ''} ({names})"
    if count >= deployed:
        if limits.allow_empty:
            return None
        return f"{head}: every deployed stack; set prune.allow_empty: true to allow it"
    limit = max(limits.max_stacks, deployed * limits.max_percent // 100)
    if count <= limit:
        return None
    return (
        f"{head}; the limit is {limit} (prune.max_stacks {limits.max_stacks}, "
        f"prune.max_percent {limits.max_percent}%); raise prune.max_stacks or "
        "prune.max_percent to allow it, or remove fewer stacks per commit"
    )


def prune_order(orphans: Sequence[Orphan]) -> list[Orphan]:
    """Dependents before what they depend on: a stack's destroy may need the outputs
    of a stack it reads from, so that one goes later."""
    remaining = list(orphans)
    ordered: list[Orphan] = []
    while remaining:
        needed = {d for o in remaining if o.stack is not None for d in o.stack.depends_on}
        ready = [o for o in remaining if o.name not in needed] or remaining
        ordered += ready
        remaining = [o for o in remaining if o not in ready]
    return ordered


def decide_orphan(orphan: Orphan, *, refused: str | None, hold: str | None) -> OrphanDecision:
    """What to do with a deployed stack the desired commit no longer declares."""
    name, applied = orphan.name, orphan.applied_commit[:10]
    if orphan.renamed_to is not None:
        return OrphanDecision(
            name,
            OrphanAction.RENAMED,
            f"renamed to {orphan.renamed_to}: {name} is not pruned for it",
        )
    policy = orphan.stack.policy if orphan.stack is not None else None
    if policy is not None and policy.prune_needs_confirm:
        return OrphanDecision(
            name,
            OrphanAction.CONFIRM,
            f"removed from the manifest, still deployed (applied at {applied}); its prune "
            f"policy is 'confirm': destroy it with `infra-gitops prune {name} --confirm`",
        )
    if policy is None or not policy.prunes_automatically:
        return OrphanDecision(
            name,
            OrphanAction.KEEP,
            f"removed from the manifest but still deployed (applied at {applied}); "
            "prune is off for it, so it is left as it is",
        )
    if refused is not None:
        return OrphanDecision(name, OrphanAction.REFUSED, refused)
    if hold is not None:
        return OrphanDecision(
            name,
            OrphanAction.HOLD,
            f"removed from the manifest; prune is on, but it is {hold}: "
            "it is destroyed once the window allows it",
        )
    return OrphanDecision(
        name, OrphanAction.DESTROY, "removed from the manifest; prune is on: destroying"
    )
