"""A prune asked for by a person (`infra-gitops prune STACK --confirm`): the only way a
stack whose prune policy is "confirm" gets destroyed, and a way for any stack gone from
the manifest. It runs at the stack's last applied commit, through the same runner as the
daemon's prunes, and records who ran it.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from infra_gitops import config
from infra_gitops.daemon.reconcile import rename_keeps_state
from infra_gitops.daemon.status import RECENT_RUNS, applied_run
from infra_gitops.daemon.windows import apply_hold
from infra_gitops.errors import GitOpsError
from infra_gitops.models import Commit, RunStatus, StackOutcome
from infra_gitops.progress import Progress
from infra_gitops.runs import RunStore
from infra_gitops.session import Options, open_session
from infra_gitops.source import open_source

ACTOR_VARIABLE = "INFRA_GITOPS_ACTOR"


def current_actor() -> str:
    """Who runs this command: $INFRA_GITOPS_ACTOR (set by a wrapper that knows the
    person behind a shared account), else the OS user."""
    explicit = os.environ.get(ACTOR_VARIABLE, "").strip()
    if explicit:
        return explicit
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (some containers)
        return f"uid {os.getuid()}"


@dataclass(frozen=True)
class PruneDone:
    outcome: StackOutcome
    applied_commit: Commit
    actor: str


def prune_confirmed(options: Options, name: str, actor: str, progress: Progress) -> PruneDone:
    """Destroy a stack the manifest at HEAD no longer declares. Raises GitOpsError
    (nothing done) when it is still declared, not deployed, held by a sync window, or
    renamed into a stack that uses its state."""
    head = _manifest_at_head(options)
    if name in head.names:
        raise GitOpsError(
            f"stack {name!r} is still declared in {config.MANIFEST_NAME} at HEAD: remove it "
            "from the manifest first (prune only destroys stacks gone from it)"
        )
    with RunStore.open(
        options.state_dir,
        database_url=options.database_url,
        artifact_store=options.artifact_store,
    ) as store:
        store.mark_interrupted()
        applied = applied_run(store.list(stack=name, limit=RECENT_RUNS))
        state = store.stack_states().get(name)
    if applied is None:
        raise GitOpsError(
            f"stack {name!r} is not deployed: no apply of it is recorded in "
            f"{options.state_dir}, or it was destroyed already"
        )
    hold = apply_hold(head.sync_windows, name, datetime.now(UTC))
    if hold is not None:
        raise GitOpsError(f"not pruning {name}: it is {hold}; run this again once it allows it")
    options = replace(options, ref=applied.commit.sha, stacks=())
    with open_session(options, progress) as session:
        stack = session.manifest.stack(name)
        renamed_to = state.renamed_to if state is not None else None
        if renamed_to in head.names and rename_keeps_state(stack, head.stack(str(renamed_to))):
            raise GitOpsError(
                f"not pruning {name}: it was renamed to {renamed_to}, which uses its state: "
                f"destroying {name} would destroy {renamed_to}'s resources"
            )
        progress.say(f"{name}: destroying what commit {applied.commit.short_sha} declared")
        outcome = replace(session.runner, actor=actor).destroy(stack)
        if outcome.status is RunStatus.APPLIED:
            # No commit declares it any more: `status` stops listing it.
            session.store.update_stack_state(
                name,
                orphaned=False,
                renamed_to=None,
                desired_commit=None,
                message=f"pruned by {actor}",
            )
    return PruneDone(outcome, applied.commit, actor)


def _manifest_at_head(options: Options) -> config.Manifest:
    with open_source(options.repo, "HEAD", options.state_dir) as source:
        return config.load_manifest(source.root)
