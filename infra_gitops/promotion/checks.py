"""When a promotion is refused: pure rules over the manifest and the run records.

A promotion takes what the source environment runs to the target. It is refused when
the source is not a safe witness of that revision (not Synced, Drifted, its last apply
failed, applied too recently for the soak time), when it skips a stage of the declared
order or goes back, and when the target is not pinned (it follows the branch already).
"""

from __future__ import annotations

from datetime import datetime

from infra_gitops.daemon.contracts import StackView, SyncStatus
from infra_gitops.durations import format_duration
from infra_gitops.models import Promotion, Run, Stack


def order_refusal(promotion: Promotion, source: str, target: str) -> str | None:
    """Why promotion's order forbids source -> target (None: it allows it)."""
    if source == target:
        return f"{source} to itself is no promotion"
    order = promotion.order
    if not order:
        return None
    for name in (source, target):
        if name not in order:
            return f"{name} is not in the promotion order ({' -> '.join(order)})"
    step = order.index(target) - order.index(source)
    if step == 1:
        return None
    if step < 1:
        return f"{source} comes after {target} in the promotion order ({' -> '.join(order)})"
    skipped = ", ".join(order[order.index(source) + 1 : order.index(target)])
    return (
        f"it skips {skipped}: the promotion order is {' -> '.join(order)}; promote "
        f"{source} to {order[order.index(source) + 1]} first"
    )


def target_refusal(target: Stack) -> str | None:
    if target.revision is None:
        return (
            f"{target.name} follows the branch (it has no revision): it gets every commit "
            "already; pin it to a commit to promote into it"
        )
    return None


def source_refusal(
    view: StackView | None, applied: Run | None, soak_s: int, now: datetime
) -> str | None:
    """Why the source's records make it no witness of what it runs (None: they do)."""
    if view is None or applied is None or applied.finished_at is None:
        name = view.name if view is not None else "the source"
        return f"{name} has never been applied: nothing to promote"
    if view.status is SyncStatus.DRIFTED:
        return f"{view.name} is Drifted ({view.message}): heal it, or find out why, first"
    if view.status is SyncStatus.FAILED:
        return f"{view.name} failed: {view.message}"
    if view.status is not SyncStatus.SYNCED:
        why = f": {view.message}" if view.message else ""
        return f"{view.name} is {view.status}, not Synced{why}"
    soaked = (now - datetime.fromisoformat(applied.finished_at)).total_seconds()
    if soaked < soak_s:
        return (
            f"{view.name} was applied {format_duration(int(soaked))} ago; promotion.soak is "
            f"{format_duration(soak_s)}: wait {format_duration(int(soak_s - soaked) + 1)}"
        )
    return None
