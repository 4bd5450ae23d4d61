"""`apply --from-plan`: apply exactly the plans reviewed on the pull request.

Each stack's stored plan file is applied as it is (no new plan). A stack is refused,
saying why, when its code (directory, local modules, manifest entry) differs from what
was planned, when its plan broke a policy, or when no plan was stored; Terraform itself
refuses a plan whose state moved since (another apply, a drift heal).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from infra_gitops import git
from infra_gitops.ci.fingerprint import stack_fingerprint
from infra_gitops.ci.store import PlanStore, StoredPlan
from infra_gitops.errors import GitOpsError
from infra_gitops.models import (
    OutputChange,
    Plan,
    ResourceChange,
    RunKind,
    RunStatus,
    Stack,
    StackOutcome,
)
from infra_gitops.orchestrate import run_in_order
from infra_gitops.session import Session

STALE_MARKER = "Saved plan is stale"
"""Terraform's diagnostic when the state changed after the plan was made."""


def plans_commit(session: Session, store: PlanStore, sha: str | None) -> str:
    """The commit whose stored plans to apply: sha, else HEAD, else (after a merge
    commit) the merged pull request head, the merge commit's other parent, else (after a
    squash or rebase merge of an up-to-date branch) the planned commit with HEAD's files."""
    with git.open_repo(session.options.repo) as repo:
        if sha is not None:
            return git.resolve_commit(repo, sha).sha
        head = repo.commit(session.source.commit.sha)
        candidates = [head.hexsha, *(p.hexsha for p in head.parents[1:])]
        tree = head.tree.hexsha
    for candidate in candidates:
        if store.stacks(candidate):
            return candidate
    same_files = store.commit_of_tree(tree)
    if same_files is not None and store.stacks(same_files):
        return same_files
    raise GitOpsError(
        f"no stored plan for commit {candidates[0][:10]}"
        + (" or the branch it merged" if len(candidates) > 1 else "")
        + f", nor for a planned commit with the same files, in {store.describe()}: run "
        "`infra-gitops ci plan` on the pull request first (after a squash or rebase merge, "
        "on a branch up to date with its target), or name the planned commit with --sha"
    )


def apply_stored(session: Session, store: PlanStore, sha: str, scratch: Path) -> list[StackOutcome]:
    """Apply the plans stored for sha (only the stacks asked for, when named)."""
    stored = store.stacks(sha)
    if not stored:
        raise GitOpsError(f"no stored plan for commit {sha[:10]} in {store.describe()}")
    wanted = set(session.options.stacks) or set(stored)
    missing = sorted(wanted - set(stored))
    if missing:
        raise GitOpsError(
            f"no stored plan for stack(s) {', '.join(missing)} at commit {sha[:10]} "
            f"(stored: {', '.join(stored)})"
        )
    stacks = [session.manifest.stack(name) for name in sorted(wanted)]
    # Now, before any engine writes its override files into the snapshot.
    now = {s.name: stack_fingerprint(session.view.source_of(s).root, s) for s in stacks}
    ordered = [s for s in session.manifest.stacks if s.name in wanted]
    return run_in_order(
        ordered,
        lambda stack: _apply_one(session, store, sha, stack, now, scratch),
        parallelism=session.options.parallelism,
    )


def _apply_one(
    session: Session,
    store: PlanStore,
    sha: str,
    stack: Stack,
    fingerprints: Mapping[str, str],
    scratch: Path,
) -> StackOutcome:
    meta = store.get(sha, stack.name)
    refusal = _refusal(meta, stack, sha, fingerprints[stack.name])
    if refusal is not None or meta is None:
        return _refused(stack, refusal or "no stored plan")
    if meta.applied is not None:
        # A re-run of the merge job: done already, nothing is applied twice.
        return StackOutcome(
            stack.name,
            RunKind.APPLY,
            RunStatus.NO_CHANGES,
            note=f"the plan stored for commit {sha[:10]} was applied already "
            f"(at {meta.applied.get('at')}, run {meta.applied.get('run_id')}): nothing to do",
        )
    if not meta.has_changes:
        return StackOutcome(stack.name, RunKind.APPLY, RunStatus.NO_CHANGES)
    plan_file = scratch / f"{stack.name}.tfplan"
    if not store.fetch_plan_file(meta, plan_file):
        return _refused(
            stack,
            f"the saved plan of {stack.name} at commit {sha[:10]} is no longer in "
            f"{store.describe()} (it was applied already, or removed); plan again",
        )
    outcome = session.runner.apply_saved(stack, _plan_from(meta, plan_file))
    if outcome.status is RunStatus.APPLIED:
        store.mark_applied(meta, outcome.run_id)  # it cannot be applied twice
        if outcome.outputs is not None:
            session.outputs.put(stack.name, outcome.outputs)
    elif outcome.error and STALE_MARKER in outcome.error:
        return _stale_state(outcome, sha)
    return outcome


def _refusal(meta: StoredPlan | None, stack: Stack, sha: str, fingerprint: str) -> str | None:
    if meta is None:
        return f"no stored plan for {stack.name} at commit {sha[:10]}"
    if meta.violations:
        return f"its plan broke policy: {'; '.join(meta.violations)}; nothing applied"
    if meta.mock_outputs:
        return _mocked(meta.mock_outputs)
    if meta.fingerprint != fingerprint:
        return (
            f"the code of {stack.name} changed since its plan was made at commit {sha[:10]} "
            "(its directory, a local module it uses or its manifest entry differ): this is "
            "not what was reviewed. Plan it again (a new pull request) and apply that plan"
        )
    return None


def _mocked(mock_outputs: Sequence[str]) -> str:
    # The saved plan holds the mock values as variable values: applying it would put
    # them into the cloud, whatever the dependency's real outputs are by now.
    stacks = ", ".join(dict.fromkeys(item.partition(".")[0] for item in mock_outputs))
    return (
        f"its plan used mock outputs of {stacks} ({', '.join(mock_outputs)}), not real "
        f"ones; nothing applied. Plan it again once {stacks} is applied (`infra-gitops "
        "apply` plans it anew with the real outputs)"
    )


def _refused(stack: Stack, why: str) -> StackOutcome:
    # Nothing ran, so nothing is recorded (as for a stack held by another run).
    return StackOutcome(stack.name, RunKind.APPLY, RunStatus.FAILED, error=f"refused: {why}")


def _stale_state(outcome: StackOutcome, sha: str) -> StackOutcome:
    why = (
        f"refused: the state of {outcome.stack} changed since its plan was made at commit "
        f"{sha[:10]} (another apply or a drift heal ran since), so Terraform will not apply "
        "that plan: plan again and review the new plan"
    )
    return StackOutcome(
        outcome.stack,
        outcome.kind,
        RunStatus.FAILED,
        run_id=outcome.run_id,
        plan=outcome.plan,
        error=f"{why}\n{outcome.error}",
        duration_s=outcome.duration_s,
    )


def _plan_from(meta: StoredPlan, plan_file: Path) -> Plan:
    data = meta.plan
    return Plan(
        stack=meta.stack,
        changes=_changes(data.get("changes", ())),
        drift=_changes(data.get("drift", ())),
        outputs=data.get("outputs", {}),
        output_changes=tuple(OutputChange.from_dict(o) for o in data.get("output_changes", ())),
        deferred=_changes(data.get("deferred", ())),
        engine=str(data.get("engine", "")),
        engine_version=str(data.get("engine_version", "")),
        plan_file=plan_file,
    )


def _changes(items: Sequence[Mapping[str, object]]) -> tuple[ResourceChange, ...]:
    return tuple(ResourceChange.from_dict(item) for item in items)
