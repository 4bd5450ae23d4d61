"""`promote`: pin the target environment to the revision the source has applied, as one
commit on the branch of the user's checkout (pushed with --push).

The revision is what the source runs (overview.running_revision): its pin, or, when it
follows the branch, the last commit that changed its code up to the one it was applied
at. The records say whether the source is a safe witness of it (checks.py); the manifest
is edited one line (config/pinning.py) and read again before anything is committed; only
gitops.yaml goes into the commit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from infra_gitops import config, git
from infra_gitops.ci.hosting import ChangeRequests
from infra_gitops.config.document import Document, KeyPath
from infra_gitops.config.pinning import with_pin
from infra_gitops.config.yaml_source import read_document
from infra_gitops.daemon.status import RECENT_RUNS, applied_run, derive_view
from infra_gitops.errors import ConfigError, GitOpsError
from infra_gitops.models import Stack
from infra_gitops.promotion.checks import order_refusal, source_refusal, target_refusal
from infra_gitops.promotion.overview import running_revision
from infra_gitops.runs import RunStore


class PromotionRefused(GitOpsError):
    """A promotion the rules forbid now: nothing was changed."""


@dataclass(frozen=True)
class Request:
    stack: str
    """The stack's own name (app), not an instance."""
    source: str
    target: str
    push: bool = False
    """Push the commit to the branch (without a pull request)."""


@dataclass(frozen=True)
class Promoted:
    source: str
    """The source instance (app@staging)."""
    target: str
    revision: str
    """The commit the target is pinned to now."""
    commit: str | None
    """The promotion commit; None when the target was at that revision already."""
    pushed_to: str | None = None
    pull_request: str | None = None
    """The URL of the pull (merge) request opened for it."""


def promote(
    repo_path: Path, store: RunStore, request: Request, changes: ChangeRequests | None = None
) -> Promoted:
    """Refused with PromotionRefused (why), or done: the commit is made on the branch
    (and pushed); with changes, on a new branch pushed to origin, and a pull request
    from it is opened there (the checkout is left on its branch, unchanged)."""
    root = git.checkout_root(repo_path)  # refuses a bare repository
    if git.changed_in_worktree(root, [config.MANIFEST_NAME]):
        raise GitOpsError(
            f"{config.MANIFEST_NAME} has uncommitted changes: commit or stash them first "
            "(a promotion commits that file alone)"
        )
    with git.open_repo(repo_path) as repo:
        branch = git.current_branch(repo)
    if branch is None:
        raise GitOpsError("HEAD is detached: check out the branch to promote on")
    manifest = config.load_manifest(repo_path)
    source, target = _instances(manifest, request)
    for refusal in (
        order_refusal(source.promotion, request.source, request.target),
        target_refusal(target),
    ):
        if refusal:
            raise PromotionRefused(_refused(request, refusal))
    _pin_location(repo_path, target)  # one promote can write, before anything is read
    runs = store.recent_runs_by_stack([source.name], per_stack=RECENT_RUNS)[source.name]
    view = derive_view(source.name, runs, store.stack_state(source.name)) if runs else None
    applied = applied_run(runs)
    refusal = source_refusal(view, applied, source.promotion.soak_s, datetime.now(UTC))
    if refusal or applied is None:
        raise PromotionRefused(_refused(request, refusal or "never applied"))
    with git.open_repo(repo_path) as repo:
        revision = running_revision(repo, manifest, source, view)
    if revision is None:
        raise PromotionRefused(_refused(request, f"what {source.name} runs is not known"))
    if target.revision == revision:
        return Promoted(source.name, target.name, revision, None)
    with git.open_repo(repo_path) as repo:
        if not git.is_ancestor(repo, revision, "HEAD"):
            raise PromotionRefused(
                _refused(request, f"{revision[:10]} is not in the history of {branch}: pull")
            )
    message = (
        f"Promote {request.stack} from {request.source} to {request.target}\n\n"
        f"{target.name} now runs {revision[:10]}, which {source.name} has run Synced since "
        f"{applied.finished_at} (applied at commit {applied.commit.sha[:10]}, run "
        f"{applied.id}).\n\n"
        f"Infra-Gitops-Promote: {source.name} -> {target.name} {revision}"
    )
    done = Promoted(source.name, target.name, revision, None)
    if changes is None:
        commit = _commit_pin(repo_path, target, revision, message)
        if request.push:
            _push(repo_path, branch, commit)
        return replace(done, commit=commit, pushed_to=branch if request.push else None)
    proposal = f"promote/{request.stack}-{request.target}-{revision[:10]}"
    with git.open_repo(repo_path) as repo:
        git.switch(repo, proposal, create=True)
    try:
        commit = _commit_pin(repo_path, target, revision, message)
        _push(repo_path, proposal, commit)
    finally:
        with git.open_repo(repo_path) as repo:
            git.switch(repo, branch)
    title, _, body = message.partition("\n\n")
    try:
        url = changes.open(head=proposal, base=branch, title=title, body=body)
    except GitOpsError as exc:
        raise GitOpsError(
            f"pushed branch {proposal} with the promotion commit {commit[:10]}, but the "
            f"pull request could not be opened: {exc}"
        ) from None
    return replace(done, commit=commit, pushed_to=proposal, pull_request=url)


def _commit_pin(repo_path: Path, target: Stack, revision: str, message: str) -> str:
    _write_pin(repo_path, target, revision)
    with git.open_repo(repo_path) as repo:
        identity = git.identity_or(repo, "infra-gitops promote")
        return git.commit_file(repo, config.MANIFEST_NAME, message, identity)


def _push(repo_path: Path, branch: str, commit: str) -> None:
    origin = git.origin_url(repo_path)
    if origin is None:
        raise GitOpsError(f"committed {commit[:10]}, but the repository has no origin to push to")
    with git.open_repo(repo_path) as repo:
        git.push_head(repo, branch, git.remote_for(origin))


def _refused(request: Request, why: str) -> str:
    return (
        f"promotion of {request.stack} from {request.source} to {request.target} refused: "
        f"{why}; nothing changed"
    )


def _instances(manifest: config.Manifest, request: Request) -> tuple[Stack, Stack]:
    found = []
    for environment in (request.source, request.target):
        name = f"{request.stack}@{environment}"
        if not manifest.declares(name):
            environments = [s.environment for s in manifest.stacks if s.definition == request.stack]
            if not any(environments):
                raise ConfigError(f"stack {request.stack!r} has no environments to promote between")
            raise ConfigError(
                f"stack {request.stack!r} has no environment {environment!r} "
                f"(its environments: {', '.join(e for e in environments if e)})"
            )
        found.append(manifest.stack(name))
    return found[0], found[1]


def _pin_location(repo_path: Path, target: Stack) -> tuple[Document, KeyPath]:
    """The manifest's document and where target's environment is written in it."""
    doc, problems = read_document(repo_path, config.MANIFEST_NAME)
    if doc is None or problems:
        raise ConfigError(f"cannot read {config.MANIFEST_NAME} to edit it")
    where = _environment_path(doc, target)
    if where is None:
        raise ConfigError(
            f"{target.name} is one combination of a matrix of environments: move its pin "
            f"(revision) in {config.MANIFEST_NAME} by hand"
        )
    return doc, where


def _write_pin(repo_path: Path, target: Stack, revision: str) -> None:
    """Set target's pin in gitops.yaml, or leave the file as it was and raise."""
    doc, where = _pin_location(repo_path, target)
    path = repo_path / config.MANIFEST_NAME
    original = path.read_text(encoding="utf-8")
    path.write_text(with_pin(original, doc, where, revision), encoding="utf-8")
    try:
        moved = config.load_manifest(repo_path).stack(target.name).revision
    except ConfigError:
        moved = None
    if moved != revision:
        path.write_text(original, encoding="utf-8")
        raise ConfigError(f"the edited {config.MANIFEST_NAME} did not pin {target.name}: unchanged")


def _environment_path(doc: Document, target: Stack) -> KeyPath | None:
    """stacks[i].environments[j] of target in the document."""
    for i, stack in enumerate(doc.get(("stacks",)) or ()):
        if not isinstance(stack, dict) or stack.get("name") != target.definition:
            continue
        for j, environment in enumerate(stack.get("environments") or ()):
            if isinstance(environment, dict) and environment.get("name") == target.environment:
                return ("stacks", i, "environments", j)
    return None
