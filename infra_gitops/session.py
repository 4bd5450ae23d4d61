"""What one CLI command works in: the long-lived core and one commit's view, together.

A command opens both for its duration (`open_session`); the daemon instead keeps the
core for its life and a cache of views (core.py, view.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from infra_gitops import config
from infra_gitops.core import Core, open_core
from infra_gitops.models import Stack
from infra_gitops.options import DEFAULT_TIMEOUT, Options, default_state_dir
from infra_gitops.progress import Progress
from infra_gitops.runs import RunStore
from infra_gitops.source import Source
from infra_gitops.stackrun import OutputsCache, StackRunner
from infra_gitops.view import View, open_view
from infra_gitops.workspace import Target

__all__ = ["DEFAULT_TIMEOUT", "Options", "Session", "default_state_dir", "open_session"]


@dataclass
class Session:
    options: Options
    core: Core
    view: View
    progress: Progress
    runner: StackRunner

    @property
    def store(self) -> RunStore:
        return self.core.store

    @property
    def source(self) -> Source:
        return self.view.source

    @property
    def manifest(self) -> config.Manifest:
        return self.view.manifest

    @property
    def target(self) -> Target:
        return self.core.target

    @property
    def outputs(self) -> OutputsCache:
        return self.core.outputs

    def selected(self, *, with_dependencies: bool = False) -> list[Stack]:
        """The stacks asked for (all when none named), in manifest order."""
        return self.view.selected(self.options.stacks, with_dependencies=with_dependencies)


@contextmanager
def open_session(
    options: Options, progress: Progress, *, mock_outputs: bool = False
) -> Iterator[Session]:
    """The core and the view of options.ref (or of the working tree) for one command.

    mock_outputs: the runner plans with the manifest's mock values for dependency outputs
    that do not exist yet, and does nothing but plan (`plan` and `ci plan` only)."""
    with (
        open_core(
            options.state_dir,
            progress,
            timeout=options.timeout,
            database_url=options.database_url,
            artifact_store=options.artifact_store,
        ) as core,
        open_view(options.repo, options.ref, options.state_dir) as view,
    ):
        dirty = " (+ uncommitted changes)" if view.source.commit.dirty else ""
        progress.say(
            f"commit {view.source.commit.short_sha}{dirty} {view.source.commit.subject!r}; "
            f"{core.target.describe()}"
        )
        runner = core.runner(
            view,
            progress,
            trigger=options.trigger,
            lock_wait=options.lock_wait,
            mock_outputs=mock_outputs,
        )
        yield Session(options, core, view, progress, runner)
