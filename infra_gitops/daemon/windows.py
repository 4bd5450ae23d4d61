"""Sync windows: whether an apply of a stack may run now (Argo CD's semantics).

A deny window that is active and matches the stack holds it. When allow windows match
the stack, it may apply only while one of them is active. No matching window: allowed.
Plans and drift checks always run; only applies (and heals) are held.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from infra_gitops.config.sync_windows import SyncWindow, cron_trigger
from infra_gitops.durations import format_duration
from infra_gitops.stacknames import selected_by


def matches(window: SyncWindow, stack: str) -> bool:
    return not window.stacks or selected_by(window.stacks, stack)


def is_active(window: SyncWindow, at: datetime) -> bool:
    """Whether the window is open at `at` (timezone-aware): it opened within duration."""
    opened_since = at - timedelta(seconds=window.duration_s)
    first = cron_trigger(window.schedule).get_next_fire_time(None, opened_since)
    return first is not None and first <= at


def apply_hold(
    windows: Sequence[SyncWindow], stack: str, at: datetime, *, manual: bool = False
) -> str | None:
    """Why an apply of stack is held at `at`, or None when it may run.

    manual: a person asked (rollback); windows with manual_sync let it through.
    """
    relevant = [w for w in windows if matches(w, stack) and not (manual and w.manual_sync)]
    for window in relevant:
        if window.kind == "deny" and is_active(window, at):
            return f"held by sync window: deny {_describe(window)} is active"
    allows = [w for w in relevant if w.kind == "allow"]
    if allows and not any(is_active(w, at) for w in allows):
        names = "; ".join(_describe(w) for w in allows)
        return f"held by sync window: outside every allow window ({names})"
    return None


def _describe(window: SyncWindow) -> str:
    return f"'{window.schedule}' for {format_duration(window.duration_s)}"
