"""The reconcile rules, one by one (pure functions: facts in, decisions out)."""

from __future__ import annotations

from infra_gitops.daemon.contracts import SyncStatus
from infra_gitops.daemon.reconcile import (
    ActionKind,
    StackFacts,
    decide,
    decide_orphan,
    pause_lifted,
)
from infra_gitops.models import Commit, Policy, Run, RunKind, RunStatus, Stack

HEAD = "b" * 40
OLD = "a" * 40
AUTO = Policy(auto_apply=True, self_heal=True)


def _run(kind: RunKind, status: RunStatus) -> Run:
    commit = Commit(HEAD, "A", "a@x", "2026-01-01T00:00:00+00:00", "m")
    return Run("r1", "s", kind, "daemon:commit", status, commit, "2026-01-01T00:00:00")


def _facts(policy: Policy = AUTO, **kw: object) -> StackFacts:
    base: dict[str, object] = {
        "stack": Stack("s", "stacks/s", policy=policy),
        "desired_commit": HEAD,
        "applied_commit": OLD,
        "affected": True,
        "last_run_here": None,
    }
    base.update(kw)
    return StackFacts(**base)  # type: ignore[arg-type]


def test_an_unaffected_stack_is_synced_and_left_alone() -> None:
    d = decide(_facts(affected=False))
    assert (d.action, d.status) == (ActionKind.NONE, SyncStatus.SYNCED)


def test_an_affected_stack_with_auto_apply_is_applied() -> None:
    assert decide(_facts()).action is ActionKind.APPLY


def test_without_auto_apply_it_is_planned_once_and_stays_out_of_sync() -> None:
    manual = Policy(auto_apply=False)
    first = decide(_facts(manual))
    assert (first.action, first.status) == (ActionKind.PLAN, SyncStatus.OUT_OF_SYNC)
    assert "auto-apply is off" in first.message and not first.held
    planned = _run(RunKind.PLAN, RunStatus.CHANGES)
    assert decide(_facts(manual, last_run_here=planned)).action is ActionKind.NONE


def test_a_sync_window_holds_the_apply_and_says_so_then_applies_when_open() -> None:
    held = decide(_facts(hold="held by sync window: deny '0 * * * *' for 1h is active"))
    assert (held.action, held.status, held.held) == (ActionKind.PLAN, SyncStatus.OUT_OF_SYNC, True)
    assert "sync window" in held.message
    planned = _run(RunKind.PLAN, RunStatus.CHANGES)
    assert decide(_facts(last_run_here=planned)).action is ActionKind.APPLY


def test_a_pause_holds_auto_apply() -> None:
    d = decide(_facts(paused=True))
    assert d.status is SyncStatus.OUT_OF_SYNC and "paused" in d.message and d.held


def test_a_failed_apply_is_not_retried_at_the_same_commit_but_an_interrupted_one_is() -> None:
    failed = decide(_facts(last_run_here=_run(RunKind.APPLY, RunStatus.FAILED)))
    assert (failed.action, failed.status) == (ActionKind.NONE, SyncStatus.FAILED)
    interrupted = _run(RunKind.APPLY, RunStatus.INTERRUPTED)
    assert decide(_facts(last_run_here=interrupted)).action is ActionKind.APPLY


def test_a_pause_ends_with_a_later_commit_touching_the_stack() -> None:
    assert not pause_lifted(OLD, OLD, touched_since_pause=False)
    assert not pause_lifted(OLD, HEAD, touched_since_pause=False)
    assert pause_lifted(OLD, HEAD, touched_since_pause=True)


def test_an_orphan_is_destroyed_only_with_prune() -> None:
    assert decide_orphan("s", True, OLD).destroy
    kept = decide_orphan("s", False, OLD)
    assert not kept.destroy and "prune is off" in kept.message
