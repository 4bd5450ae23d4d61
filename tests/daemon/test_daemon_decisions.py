"""The reconcile rules, one by one (pure functions: facts in, decisions out)."""

from __future__ import annotations

import pytest

from infra_gitops.config.prune import PruneLimits
from infra_gitops.daemon.contracts import SyncStatus
from infra_gitops.daemon.reconcile import (
    ActionKind,
    Orphan,
    OrphanAction,
    StackFacts,
    decide,
    decide_orphan,
    detect_renames,
    pause_lifted,
    prune_order,
    prune_refusal,
    rename_keeps_state,
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
    d = decide(_facts(paused="auto-apply is paused by ada until resumed"))
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


def _orphan(prune: bool | str = True, renamed_to: str | None = None) -> Orphan:
    policy = Policy(prune=prune)  # type: ignore[arg-type]
    return Orphan("s", Stack("s", "stacks/s", policy=policy), OLD, renamed_to)


def test_an_orphan_is_destroyed_only_with_prune() -> None:
    assert decide_orphan(_orphan(True), refused=None, hold=None).destroy
    kept = decide_orphan(_orphan(False), refused=None, hold=None)
    assert kept.action is OrphanAction.KEEP and "prune is off" in kept.message


def test_an_orphan_whose_old_manifest_is_unreadable_is_kept() -> None:
    unknown = Orphan("s", None, OLD)
    assert not unknown.prunable
    assert decide_orphan(unknown, refused=None, hold=None).action is OrphanAction.KEEP


def test_prune_confirm_is_never_destroyed_by_the_daemon_and_names_the_command() -> None:
    orphan = _orphan("confirm")
    assert not orphan.prunable  # not counted by the mass-prune guard either
    decision = decide_orphan(orphan, refused=None, hold=None)
    assert decision.action is OrphanAction.CONFIRM
    assert "infra-gitops prune s --confirm" in decision.message


def test_a_sync_window_holds_a_prune_and_says_so() -> None:
    window = "held by sync window: deny '* * * * *' for 2h is active"
    decision = decide_orphan(_orphan(True), refused=None, hold=window)
    assert decision.action is OrphanAction.HOLD and window in decision.message


def test_a_refused_prune_destroys_nothing_and_keeps_the_reason() -> None:
    decision = decide_orphan(_orphan(True), refused="prune refused: ...", hold=None)
    assert (decision.action, decision.message) == (OrphanAction.REFUSED, "prune refused: ...")


def test_a_renamed_stack_is_never_pruned_whatever_its_policy() -> None:
    orphan = _orphan(True, renamed_to="t")
    assert not orphan.prunable
    decision = decide_orphan(orphan, refused=None, hold=None)
    assert decision.action is OrphanAction.RENAMED and "renamed to t" in decision.message


@pytest.mark.parametrize(
    ("count", "deployed", "limits", "refused"),
    [
        (0, 3, PruneLimits(), False),
        (1, 4, PruneLimits(), False),  # max_stacks 1
        (2, 4, PruneLimits(), True),  # 25% of 4 is 1
        (2, 8, PruneLimits(), False),  # 25% of 8 is 2
        (3, 8, PruneLimits(), True),
        (2, 9, PruneLimits(), False),  # floor(2.25)
        (3, 4, PruneLimits(max_stacks=3), False),
        (3, 10, PruneLimits(max_stacks=0, max_percent=30), False),
        (4, 10, PruneLimits(max_stacks=0, max_percent=30), True),
        (1, 1, PruneLimits(), True),  # every deployed stack, whatever the limits
        (3, 3, PruneLimits(max_stacks=5), True),
        (3, 3, PruneLimits(allow_empty=True), False),  # emptying asked for explicitly
        (1, 1, PruneLimits(allow_empty=True), False),
        (2, 4, PruneLimits(allow_empty=True), True),  # not every one: the limits hold
    ],
)
def test_the_mass_prune_guard(
    count: int, deployed: int, limits: PruneLimits, refused: bool
) -> None:
    names = [f"s{i}" for i in range(count)]
    assert (prune_refusal(names, deployed, limits, HEAD) is not None) is refused


def test_a_refusal_names_the_commit_the_stacks_and_the_setting_to_change() -> None:
    every = prune_refusal(["b", "a", "c"], 3, PruneLimits(), HEAD)
    assert every is not None
    assert f"commit {HEAD[:10]} would prune 3 of 3 deployed stacks (a, b, c)" in every
    assert "prune.allow_empty" in every
    over = prune_refusal(["a", "b"], 4, PruneLimits(), HEAD)
    assert over is not None and "limit is 1" in over and "prune.max_stacks" in over


def _stack(name: str, path: str = "stacks/x", **kw: object) -> Stack:
    return Stack(name, path, **kw)  # type: ignore[arg-type]


def test_a_rename_is_a_stack_gone_and_a_new_one_at_the_same_place() -> None:
    assert detect_renames([_stack("old")], [_stack("new")]) == {"old": "new"}
    # Another path, engine or workspace: not the same stack.
    assert detect_renames([_stack("old")], [_stack("new", "stacks/y")]) == {}
    assert detect_renames([_stack("old")], [_stack("new", engine="tofu")]) == {}
    assert detect_renames([_stack("old")], [_stack("new", workspace="prod")]) == {}
    assert detect_renames([_stack("old")], []) == {}


def test_an_ambiguous_rename_is_not_guessed() -> None:
    two_new = detect_renames(
        [_stack("old")], [_stack("a", workspace="w"), _stack("b", workspace="w")]
    )
    assert two_new == {}
    assert detect_renames([_stack("o1"), _stack("o2")], [_stack("new")]) == {}


def test_a_rename_keeps_its_state_only_when_its_state_key_is_the_old_one() -> None:
    key = {"key": "old/terraform.tfstate"}
    assert rename_keeps_state(_stack("old", backend_config=key), _stack("new", backend_config=key))
    # The default key derives from the name: old's default is old/terraform.tfstate.
    assert rename_keeps_state(_stack("old"), _stack("new", backend_config=key))
    assert not rename_keeps_state(_stack("old"), _stack("new"))
    assert not rename_keeps_state(_stack("old", backend_config=key), _stack("new"))


def test_a_renamed_stack_without_its_old_state_is_held_with_how_to_keep_it() -> None:
    old = _stack("old", backend_config={"key": "old/terraform.tfstate"})
    new = Stack("s", "stacks/x", policy=AUTO)
    held = decide(_facts(stack=new, applied_commit=None, renamed_from=old))
    assert (held.action, held.status, held.held) == (ActionKind.PLAN, SyncStatus.OUT_OF_SYNC, True)
    assert "renamed from old" in held.message and "key: old/terraform.tfstate" in held.message


def test_a_renamed_stack_that_keeps_its_state_is_applied_as_usual() -> None:
    key = {"key": "old/terraform.tfstate"}
    new = Stack("s", "stacks/x", policy=AUTO, backend_config=key)
    d = decide(
        _facts(stack=new, applied_commit=None, renamed_from=_stack("old", backend_config=key))
    )
    assert d.action is ActionKind.APPLY and "renamed from old" in d.message


def test_dependents_are_pruned_before_what_they_depend_on() -> None:
    app = Orphan("app", Stack("app", "stacks/app", depends_on=("storage",)), OLD)
    storage = Orphan("storage", Stack("storage", "stacks/storage"), OLD)
    web = Orphan("web", Stack("web", "stacks/web", depends_on=("app",)), OLD)
    assert [o.name for o in prune_order([storage, app, web])] == ["web", "app", "storage"]
    unknown = Orphan("x", None, OLD)
    assert [o.name for o in prune_order([storage, unknown])] == ["storage", "x"]
