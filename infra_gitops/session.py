"""What a command or a daemon pass works in: the state dir, records, source, manifest, target.

A session opens the run store (marking runs left `running` by dead processes as
interrupted, and sweeping the snapshots and plan files they left), snapshots the
source, loads its manifest, picks the target cloud and wires a StackRunner. Closing it
removes the snapshot.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra_gitops import config, discovery, leftovers, sandbox
from infra_gitops.engines.base import Engine, StackWorkspace
from infra_gitops.engines.registry import engine_for_stack
from infra_gitops.errors import SandboxError
from infra_gitops.models import Stack
from infra_gitops.options import DEFAULT_TIMEOUT, Options, default_state_dir
from infra_gitops.progress import Progress
from infra_gitops.runs import RunStore
from infra_gitops.source import Source, open_source
from infra_gitops.stackrun import OutputsCache, StackRunner
from infra_gitops.workspace import Target, build_workspace

__all__ = ["DEFAULT_TIMEOUT", "Options", "Session", "default_state_dir", "open_session"]


@dataclass
class Session:
    options: Options
    store: RunStore
    source: Source
    manifest: config.Manifest
    target: Target
    progress: Progress
    outputs: OutputsCache
    runner: StackRunner

    def selected(self, *, with_dependencies: bool = False) -> list[Stack]:
        """The stacks asked for (all when none named), in manifest order."""
        names = self.options.stacks
        if not names:
            return list(self.manifest.stacks)
        wanted = {self.manifest.stack(name).name for name in names}
        if with_dependencies:
            wanted = discovery.with_dependencies(self.manifest.stacks, wanted)
        return [s for s in self.manifest.stacks if s.name in wanted]


@contextmanager
def open_session(
    options: Options,
    progress: Progress,
    *,
    store: RunStore | None = None,
    outputs: OutputsCache | None = None,
) -> Iterator[Session]:
    """store: the long-lived store of a daemon (else opened here). A daemon passes its
    own so that a database deleted under it fails the pass instead of being created
    again, empty. outputs: the daemon's outputs of stacks, kept across its passes (else
    kept for this session only)."""
    options.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with ExitStack() as stack:
        if store is None:
            store = stack.enter_context(RunStore.open(options.state_dir))
        known_outputs = outputs or OutputsCache(store.latest_state_change)
        for run in store.mark_interrupted():
            progress.say(
                f"run {run.id} of {run.stack} was left running by a dead process: interrupted"
            )
        swept = leftovers.sweep(options.state_dir)
        if swept:
            progress.say(
                f"removed {len(swept)} snapshot(s) and plan file(s) left by dead processes"
            )
        source = stack.enter_context(open_source(options.repo, options.ref, options.state_dir))
        manifest = config.load_manifest(source.root)
        target = stack.enter_context(_target(options.state_dir))
        dirty = " (+ uncommitted changes)" if source.commit.dirty else ""
        progress.say(
            f"commit {source.commit.short_sha}{dirty} {source.commit.subject!r}; "
            f"{target.describe()}"
        )
        engines: dict[str, Engine] = {}

        def engine_for(s: Stack) -> Engine:
            # One instance per engine name, so what it caches (its version) is shared.
            if s.engine not in engines:
                engines[s.engine] = engine_for_stack(s)
            return engines[s.engine]

        def workspace_for(s: Stack, log_file: Path | None) -> StackWorkspace:
            return build_workspace(
                stack=s,
                source=source,
                state_dir=options.state_dir,
                target=target,
                outputs_of=outputs_of,
                progress=progress.for_stack(s.name),
                log_file=log_file,
                timeout=options.timeout,
            )

        def fetch_outputs(name: str) -> Mapping[str, Any]:
            # Only for a stack no operation of this session (or daemon) has told the
            # cache about: its init is skipped when the work dir is initialised already.
            s = manifest.stack(name)
            ws = workspace_for(s, None)
            engine = engine_for(s)
            engine.prepare(ws)
            return engine.outputs(ws)

        def outputs_of(name: str) -> Mapping[str, Any]:
            return known_outputs.get(name, fetch_outputs)

        runner = StackRunner(
            state_dir=options.state_dir,
            store=store,
            source=source,
            engine_for=engine_for,
            workspace_for=workspace_for,
            trigger=options.trigger,
            lock_wait=options.lock_wait,
            outputs=known_outputs,
        )
        yield Session(options, store, source, manifest, target, progress, known_outputs, runner)


@contextmanager
def _target(state_dir: Path) -> Iterator[Target]:
    """The sandbox when it is up for this state dir, else the environment's cloud.

    On the sandbox, one provider process serves every Terraform command of the session
    (TF_REATTACH_PROVIDERS): Terraform would otherwise start it ~3 times per command.
    """
    running = sandbox.status(state_dir)
    if running is None:
        endpoint = sandbox.recorded_endpoint(state_dir)
        if endpoint is not None:
            raise SandboxError(
                f"the local sandbox started for {state_dir} ({endpoint}) is not answering; "
                "run `infra-gitops sandbox up` to start it again, or `infra-gitops sandbox "
                "down` to target the cloud configured in the environment instead"
            )
        yield Target(sandbox=None, base_env=dict(os.environ))
        return
    if "TF_REATTACH_PROVIDERS" in os.environ:
        yield Target(running, {**os.environ, **running.terraform_env()})
        return
    log_file = sandbox.sandbox_dir(state_dir) / "provider.log"
    with running.reattached_env(log_file=log_file) as env:
        yield Target(running, {**os.environ, **env})
