"""Rollback: bring a stack back to what a commit declared, and keep it there.

A plain re-apply would be undone by the daemon's next pass (auto-apply follows the
branch), so the rollback also makes that stick, in one of two ways:
- revert (the default when the remote accepts a push): a commit on the branch restoring
  the stack's files, its local modules and its manifest entry as SHA had them;
- pause (requested, or when the revert cannot be made or pushed): auto-apply of the
  stack is paused until the next commit that touches it.
The stack is then applied at SHA, recorded as a `rollback` run with the reason.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from infra_gitops import config, discovery, git
from infra_gitops.daemon.mirror import mirror_path
from infra_gitops.daemon.notes import GitNotes, note_line
from infra_gitops.daemon.windows import apply_hold
from infra_gitops.errors import GitError, GitOpsError
from infra_gitops.leftovers import owned_name
from infra_gitops.models import Commit, Stack, StackOutcome
from infra_gitops.postgres import DatabaseUrl
from infra_gitops.progress import Progress
from infra_gitops.runs import RunStore
from infra_gitops.session import Options, open_session


@dataclass(frozen=True)
class RollbackRequest:
    stack: str
    to: str
    """The commit (any ref) whose declaration of the stack to go back to."""
    remote: str | None = None
    """The infra repo's remote; None: the one the daemon on the state dir follows."""
    branch: str = "main"
    reason: str = ""
    pause: bool = False
    """Pause auto-apply instead of making a revert commit."""
    lock_wait: float = 300.0
    timeout: float = 1800.0
    database_url: DatabaseUrl | None = None
    """The daemon's run records in PostgreSQL; None: SQLite in the state dir."""
    artifact_store: str | None = None
    actor: str | None = None
    """Who asked, when through the daemon's API (the run record's actor)."""

    def records(self, state_dir: Path) -> Callable[[], AbstractContextManager[RunStore]]:
        """Opens the run store this request names (the daemon's records)."""
        return partial(
            RunStore.open,
            state_dir,
            database_url=self.database_url,
            artifact_store=self.artifact_store,
        )


@dataclass(frozen=True)
class Sticking:
    """How the rollback is kept from being undone by auto-apply."""

    method: str
    """revert, pause or none (the branch already declares what SHA declared)."""
    detail: str
    revert_commit: str | None = None


@dataclass(frozen=True)
class RollbackResult:
    stack: str
    target: Commit
    reason: str
    outcome: StackOutcome
    sticking: Sticking


def roll_back(state_dir: Path, request: RollbackRequest, progress: Progress) -> RollbackResult:
    """Make the rollback stick (revert commit or pause), then apply the stack at the
    target commit and record why."""
    remote = request.remote or _daemon_remote(state_dir)
    request = replace(request, remote=remote)  # pushes take their credentials from it
    reason = request.reason or "(no reason given)"
    with _clone(remote, request.branch, state_dir) as clone:
        with git.open_repo(clone) as repo:
            target = git.resolve_commit(repo, request.to)
            head = git.resolve_commit(repo, "HEAD").sha
        with _tree_at(clone, target.sha) as target_tree:
            at_target = config.load_manifest(target_tree)
            sticking, stack = _stick(state_dir, request, clone, at_target, target.sha, head, reason)
        progress.say(f"{stack.name}: {sticking.detail}")
        outcome = _apply(state_dir, request, clone, target.sha, stack.name, progress)
    _record(state_dir, request, outcome, target.sha, reason, sticking)
    return RollbackResult(stack.name, target, reason, outcome, sticking)


def _stick(
    state_dir: Path,
    request: RollbackRequest,
    clone: Path,
    at_target: config.Manifest,
    sha: str,
    head: str,
    reason: str,
) -> tuple[Sticking, Stack]:
    try:
        at_head: config.Manifest | None = config.load_manifest(clone)
    except config.ConfigError:
        at_head = None  # a bad commit at the tip: often why one rolls back
    stack = at_target.stack(request.stack)
    windows = at_head.sync_windows if at_head else at_target.sync_windows
    hold = apply_hold(windows, stack.name, datetime.now(UTC), manual=True)
    if hold is not None:
        raise GitOpsError(f"{stack.name}: rollback not applied: {hold}")
    if request.pause:
        records = request.records(state_dir)
        return _pause(records, stack.name, head, reason, "--pause asked for it"), stack
    sticking = _revert_or_pause(
        clone,
        request.branch,
        at_target,
        at_head,
        stack.name,
        sha,
        head,
        reason,
        request.records(state_dir),
        git.remote_for(request.remote or _daemon_remote(state_dir)),
    )
    return sticking, stack


def _daemon_remote(state_dir: Path) -> str:
    url = git.origin_url(mirror_path(state_dir))
    if url is None:
        raise GitOpsError(
            f"no daemon mirror in {state_dir} to take the remote from: give --repo PATH_OR_URL"
        )
    return url


@contextmanager
def _clone(remote: str, branch: str, state_dir: Path) -> Iterator[Path]:
    dest = state_dir / "rollback" / owned_name(uuid.uuid4().hex[:12])
    dest.parent.mkdir(parents=True, exist_ok=True)
    git.clone(git.remote_for(remote), dest, branch=branch)
    try:
        yield dest
    finally:
        shutil.rmtree(dest, ignore_errors=True)


@contextmanager
def _tree_at(clone: Path, sha: str) -> Iterator[Path]:
    dest = clone.parent / f"{clone.name}-{sha[:12]}"
    try:
        with git.open_repo(clone) as repo:
            git.export_commit(repo, sha, dest)
        yield dest
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def _pause(
    records: Callable[[], AbstractContextManager[RunStore]],
    stack: str,
    head: str,
    reason: str,
    why: str,
) -> Sticking:
    with records() as store:
        store.update_stack_state(stack, paused_at_commit=head, pause_reason=reason)
    return Sticking(
        "pause",
        f"paused auto-apply of {stack} until the next commit that touches it ({why})",
    )


def _revert_or_pause(
    clone: Path,
    branch: str,
    at_target: config.Manifest,
    at_head: config.Manifest | None,
    stack: str,
    sha: str,
    head: str,
    reason: str,
    records: Callable[[], AbstractContextManager[RunStore]],
    remote: git.Remote,
) -> Sticking:
    try:
        if at_head is None:
            raise _CannotRevert(f"gitops.yaml at the tip of {branch} is invalid")
        revert = _revert_commit(clone, at_target, at_head, stack, sha, reason)
    except _CannotRevert as exc:
        return _pause(records, stack, head, reason, f"no revert commit: {exc}")
    if revert is None:
        return Sticking("none", f"branch {branch} already declares {stack} as {sha[:10]} did")
    with git.open_repo(clone) as repo:
        try:
            # The clone's origin has no credentials: they come as for the clone.
            git.push_head(repo, branch, remote)
        except GitError as exc:
            return _pause(records, stack, head, reason, f"the revert commit was not pushed: {exc}")
    return Sticking(
        "revert",
        f"made revert commit {revert[:10]} restoring {stack} as {sha[:10]} declared it, "
        f"and pushed it to {branch}",
        revert_commit=revert,
    )


class _CannotRevert(Exception):
    pass


def _revert_commit(
    clone: Path,
    at_target: config.Manifest,
    at_head: config.Manifest,
    stack_name: str,
    sha: str,
    reason: str,
) -> str | None:
    """Commit, in the clone, the stack's files and manifest entry as sha had them.
    None when nothing differs."""
    paths = _stack_paths(at_target, stack_name) | (
        _stack_paths(at_head, stack_name) if stack_name in at_head.names else set()
    )
    sharing = _sharing_files(at_head, stack_name) if paths else []
    if sharing:
        raise _CannotRevert(
            f"its files are also those of {', '.join(sharing)}, which follow the branch: "
            "restoring them would roll those back too"
        )
    with git.open_repo(clone) as repo:
        git.restore_paths(repo, sha, sorted(paths))
        if _entry_differs(at_target, at_head, stack_name):
            if not _only_entry_differs(at_target, at_head, stack_name):
                raise _CannotRevert(
                    f"the manifest entry of {stack_name} changed since {sha[:10]} together "
                    "with other parts of gitops.yaml, which a revert must not undo"
                )
            git.restore_paths(repo, sha, [config.MANIFEST_NAME])
        message = (
            f"Roll back stack {stack_name} to {sha[:10]}\n\n{reason}\n\n"
            f"Infra-Gitops-Rollback: {stack_name} {sha}"
        )
        return git.commit_all(repo, message, git.identity_or(repo, "infra-gitops rollback"))


def _stack_paths(manifest: config.Manifest, name: str) -> set[str]:
    """The files the stack's code is read from at that commit: none for an environment
    pinned to a commit (its code comes from the pin, in its manifest entry)."""
    stack = manifest.stack(name)
    if stack.revision is not None:
        return set()
    return {stack.path, *discovery.local_module_dirs(manifest.root, stack.path)}


def _sharing_files(manifest: config.Manifest, name: str) -> list[str]:
    """The other environments of the stack's definition that read the branch's files."""
    definition = manifest.stack(name).definition if name in manifest.names else name
    return [
        s.name
        for s in manifest.stacks
        if s.name != name and s.definition == definition and s.revision is None
    ]


def _entry_differs(a: config.Manifest, b: config.Manifest, name: str) -> bool:
    return name not in b.names or a.stack(name) != b.stack(name)


def _only_entry_differs(a: config.Manifest, b: config.Manifest, name: str) -> bool:
    def rest(m: config.Manifest) -> tuple[object, ...]:
        return (tuple(s for s in m.stacks if s.name != name), m.policies, m.sync_windows)

    return rest(a) == rest(b)


def _apply(
    state_dir: Path,
    request: RollbackRequest,
    clone: Path,
    sha: str,
    name: str,
    progress: Progress,
) -> StackOutcome:
    # The daemon's mirror when it has the commit: the stack's engine work dir (keyed by
    # repo) is then the daemon's, so Terraform's init is reused.
    mirror = mirror_path(state_dir)
    repo = mirror if _has_commit(mirror, sha) else clone
    session_options = Options(
        repo=repo,
        state_dir=state_dir,
        ref=sha,
        stacks=(name,),
        timeout=request.timeout,
        lock_wait=request.lock_wait,
        trigger="rollback",
        database_url=request.database_url,
        artifact_store=request.artifact_store,
    )
    with open_session(session_options, progress) as session:
        runner = replace(session.runner, actor=request.actor)
        return runner.apply(session.manifest.stack(name), None)


def _has_commit(repo_path: Path, sha: str) -> bool:
    if not (repo_path / "HEAD").exists():
        return False
    try:
        with git.open_repo(repo_path) as repo:
            git.resolve_commit(repo, sha)
    except GitError:
        return False
    return True


def _record(
    state_dir: Path,
    request: RollbackRequest,
    outcome: StackOutcome,
    sha: str,
    reason: str,
    sticking: Sticking,
) -> None:
    if outcome.run_id is None:
        return
    facts = {"reason": reason, "rollback_to": sha, "method": sticking.method}
    if sticking.revert_commit:
        facts["revert_commit"] = sticking.revert_commit
    with request.records(state_dir)() as store:
        store.attach(outcome.run_id, "rollback.json", json.dumps(facts, indent=2) + "\n")
    run = outcome.run
    if run is None:
        return
    mirror = mirror_path(state_dir)
    if _has_commit(mirror, sha):
        GitNotes(mirror, push=False).append(sha, note_line(run, facts))
