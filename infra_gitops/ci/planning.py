"""The plan-on-PR pipeline of `ci plan`: select the stacks a pull request changes, plan
them (the API tokens withheld from the engines), check the policies, store the plans for
`apply --from-plan`, write the Markdown report and post it on the pull request.

The command (commands/ci.py) turns the result into an exit code and prints it.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from infra_gitops import git, report
from infra_gitops.ci import markdown
from infra_gitops.ci.context import TOKEN_VARIABLES, CIContext, detect
from infra_gitops.ci.fingerprint import stack_fingerprint
from infra_gitops.ci.hosting import open_host
from infra_gitops.ci.http import ApiError
from infra_gitops.ci.keeper import PlanKeeper
from infra_gitops.ci.result import PlanReport
from infra_gitops.ci.selection import Selection, select_stacks
from infra_gitops.ci.store import (
    StoredPlan,
    default_location,
    open_store,
    s3_client_factory,
)
from infra_gitops.errors import GitOpsError
from infra_gitops.leftovers import owned_name
from infra_gitops.models import Stack, StackOutcome
from infra_gitops.orchestrate import run_in_order
from infra_gitops.policy import PolicyCheck, Violation, check_plan
from infra_gitops.progress import Progress
from infra_gitops.session import Options, Session, open_session


@dataclass(frozen=True)
class PlanRequest:
    """What `ci plan` was asked (its command line)."""

    base: str | None = None
    """The pull request's target branch (else from the CI environment)."""
    head: str | None = None
    policy_only: bool = False
    """Plan and check policies only: no stored plans, no comment."""
    store: str | None = None
    """Where plans are stored (else the default location)."""
    markdown: Path | None = None
    require_comment: bool = False


@dataclass(frozen=True)
class PlanResult:
    report: PlanReport
    comment_failed: bool = False
    """A comment was required (--require-comment) and could not be posted."""

    @property
    def passed(self) -> bool:
        """No stack failed and no policy was violated (the commit status posted)."""
        return _passed(self.report)


def plan_pull_request(
    options: Options, request: PlanRequest, env: Mapping[str, str], progress: Progress
) -> PlanResult:
    """The whole pipeline; the result to print."""
    ctx = detect(env, base=request.base, head=request.head)
    if ctx.base_ref is None:
        raise GitOpsError(
            "no base to compare with: pass --base REF (the pull request's target branch), "
            "or run in GitHub Actions (pull_request event) or GitLab CI (merge request pipeline)"
        )
    with git.open_repo(options.repo) as repo:
        head_sha = git.resolve_commit(repo, ctx.head_ref).sha
    options = replace(options, ref=head_sha, trigger="ci")
    with (
        _tokens_withheld(),
        scratch_dir(options.state_dir) as scratch,
        # Mock values for outputs that do not exist yet: this command only plans.
        open_session(options, progress, mock_outputs=True) as session,
    ):
        plan_report = _plan_pull_request(session, ctx, request, scratch, env, progress)
    text = markdown.render(plan_report)
    _write_markdown(text, request.markdown, env, progress)
    posted = True
    if not request.policy_only:
        posted = _post(ctx, env, plan_report, text, request.require_comment, progress)
    return PlanResult(plan_report, comment_failed=not posted)


def _plan_pull_request(
    session: Session,
    ctx: CIContext,
    request: PlanRequest,
    scratch: Path,
    env: Mapping[str, str],
    progress: Progress,
) -> PlanReport:
    assert ctx.base_ref is not None
    head = session.source.commit.sha
    selection = select_stacks(
        session.options.repo, ctx.base_ref, head, session.manifest, scratch / "base"
    )
    stacks = [session.manifest.stack(name) for name in selection.stacks]
    progress.say(
        f"{len(selection.changed_paths)} file(s) changed since {selection.base_sha[:10]}; "
        f"affected stacks: {', '.join(selection.stacks) or '(none)'}"
    )
    # Before any plan: the engine writes override files into the snapshot.
    fingerprints = {s.name: stack_fingerprint(session.view.source_of(s).root, s) for s in stacks}
    keeper = PlanKeeper(scratch / "plans")
    runner = replace(session.runner, keep_plan=keeper.keep)
    outcomes = run_in_order(
        stacks, runner.plan, parallelism=session.options.parallelism, gate_on_dependencies=False
    )
    checks = _check_policies(session, selection, stacks, outcomes, keeper, scratch / "base")
    violations = tuple(v for c in checks.values() for v in c.violations)
    notices = tuple(dict.fromkeys(n for c in checks.values() for n in c.notices))
    hashes = {name: kept.plan_hash for name in selection.stacks if (kept := keeper.get(name))}
    location = None
    if not request.policy_only:
        location = _store(session, request, env, outcomes, keeper, fingerprints, checks, progress)
    return PlanReport(
        head_sha=head,
        base_sha=selection.base_sha,
        outcomes=tuple(outcomes),
        violations=violations,
        notices=notices,
        plan_hashes=hashes,
        store=location,
        changed_paths=len(selection.changed_paths),
    )


def _check_policies(
    session: Session,
    selection: Selection,
    stacks: Sequence[Stack],
    outcomes: Sequence[StackOutcome],
    keeper: PlanKeeper,
    base_dir: Path,
) -> dict[str, PolicyCheck]:
    # The base branch's rules when it has a valid manifest: a pull request must not be
    # able to loosen the rules its own plan is checked against.
    if selection.base_manifest is not None:
        rules, root = selection.base_manifest.policies, base_dir
    else:
        rules, root = session.manifest.policies, session.source.root
    by_name = {s.name: s for s in stacks}
    checks: dict[str, PolicyCheck] = {}
    for outcome in outcomes:
        if outcome.plan is None:
            continue
        kept = keeper.get(outcome.stack)
        checks[outcome.stack] = check_plan(
            rules,
            by_name[outcome.stack],
            outcome.plan,
            plan_json=kept.plan_json if kept else None,
            policy_root=root,
        )
    return checks


def _store(
    session: Session,
    request: PlanRequest,
    env: Mapping[str, str],
    outcomes: Sequence[StackOutcome],
    keeper: PlanKeeper,
    fingerprints: Mapping[str, str],
    checks: Mapping[str, PolicyCheck],
    progress: Progress,
) -> str:
    location = request.store or default_location(session.options.state_dir, env)
    store = open_store(location, s3_client=s3_client_factory(session.target))
    now = datetime.now(UTC).isoformat(timespec="microseconds")
    for outcome in outcomes:
        kept = keeper.get(outcome.stack)
        if outcome.plan is None or kept is None:
            continue
        violations: tuple[Violation, ...] = ()
        if outcome.stack in checks:
            violations = checks[outcome.stack].violations
        meta = StoredPlan(
            stack=outcome.stack,
            sha=session.source.commit.sha,
            plan_hash=kept.plan_hash,
            fingerprint=fingerprints[outcome.stack],
            created_at=now,
            has_changes=outcome.plan.has_changes,
            run_id=outcome.run_id,
            violations=tuple(str(v) for v in violations),
            plan=report.plan_to_dict(outcome.plan),
            mock_outputs=outcome.plan.mock_outputs,
        )
        # Only a plan with changes, made with real outputs, is ever applied: no other
        # saved file (and its secrets) is kept.
        appliable = outcome.plan.has_changes and not outcome.plan.mock_outputs
        plan_file = kept.plan_file if appliable else None
        store.put(meta, plan_file, kept.plan_json)
    if not session.source.commit.dirty:
        store.index_tree(_tree_of(session), session.source.commit.sha)
    progress.say(f"plans stored in {store.describe()}")
    return store.describe()


def _tree_of(session: Session) -> str:
    with git.open_repo(session.options.repo) as repo:
        return git.tree_sha(repo, session.source.commit.sha)


def _passed(plan_report: PlanReport) -> bool:
    return not plan_report.violations and not any(o.failed for o in plan_report.outcomes)


def _write_markdown(
    text: str, path: Path | None, env: Mapping[str, str], progress: Progress
) -> None:
    summary = env.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as out:
            out.write(text)
    if path is not None:
        path.write_text(text, encoding="utf-8")
        progress.say(f"report written to {path}")


def _post(
    ctx: CIContext,
    env: Mapping[str, str],
    plan_report: PlanReport,
    text: str,
    required: bool,
    progress: Progress,
) -> bool:
    """Comment and set the commit status; False when a required comment failed."""
    with open_host(ctx, env) as host:
        if host is None:
            if required:
                progress.say(f"error: no {ctx.token_variable or 'API token'}: cannot comment")
                return False
            progress.say("no API token in the environment: not commenting")
            return True
        try:
            done = host.upsert_comment(text)
            progress.say(f"pull request comment {done}")
            host.set_status(plan_report.head_sha, _passed(plan_report), plan_report.summary())
            progress.say("commit status set")
        except ApiError as exc:
            progress.say(f"{'error' if required else 'warning'}: {exc}")
            return not required
    return True


@contextmanager
def _tokens_withheld() -> Iterator[None]:
    """The API tokens out of the environment while stacks are planned: the engines (and
    the pull request's own code they run) never see them."""
    saved = {name: os.environ.pop(name) for name in TOKEN_VARIABLES.values() if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


@contextmanager
def scratch_dir(state_dir: Path) -> Iterator[Path]:
    """An owner-only directory for this command's copies of plans; removed at the end."""
    path = state_dir / "ci" / owned_name(uuid.uuid4().hex[:12])
    path.mkdir(parents=True, mode=0o700)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
