"""The long-lived core: what lives as long as the daemon (or one CLI command).

The run store, the target cloud and the provider process serving it, the engines, and
the outputs of applied stacks. Opening it marks runs left `running` by dead processes as
interrupted and sweeps the snapshots and plan files they left; a daemon opens it once.
What belongs to one commit (its exported tree, its manifest) is a View (view.py); a
StackRunner is made from the two for each operation, and is cheap.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from infra_gitops import leftovers, sandbox
from infra_gitops.coordination.locks import FileStackLocks, StackLocks
from infra_gitops.engines.base import Engine, StackWorkspace
from infra_gitops.engines.registry import engine_for_stack
from infra_gitops.errors import SandboxError
from infra_gitops.models import Stack
from infra_gitops.postgres import DatabaseUrl
from infra_gitops.process import running
from infra_gitops.progress import Progress
from infra_gitops.runs import RunStore
from infra_gitops.stackrun import OutputsCache, StackRunner
from infra_gitops.view import View
from infra_gitops.workspace import Target, build_workspace

log = logging.getLogger("infra_gitops.core")


class ProviderHost:
    """The target cloud, and on the sandbox the provider process every Terraform command
    reattaches to (TF_REATTACH_PROVIDERS): Terraform would otherwise start it ~3 times
    per command. The process lives as long as the host; when it dies, the next operation
    starts a new one instead of failing (and every later one with it). Thread-safe.
    """

    def __init__(self, state_dir: Path, progress: Progress) -> None:
        self._state_dir = state_dir
        self._progress = progress
        self._lock = threading.Lock()
        self._serving = ExitStack()
        self._info: sandbox.SandboxInfo | None = None
        self._target: Target | None = None
        self._pids: tuple[int, ...] = ()
        self.restarts = 0
        """How many times the provider process was found dead and started again."""

    def open(self) -> None:
        running_sandbox = sandbox.status(self._state_dir)
        if running_sandbox is None:
            endpoint = sandbox.recorded_endpoint(self._state_dir)
            if endpoint is not None:
                raise SandboxError(
                    f"the local sandbox started for {self._state_dir} ({endpoint}) is not "
                    "answering; run `infra-gitops sandbox up` to start it again, or "
                    "`infra-gitops sandbox down` to target the cloud configured in the "
                    "environment instead"
                )
            self._target = Target(sandbox=None, base_env=dict(os.environ))
            return
        self._info = running_sandbox
        if "TF_REATTACH_PROVIDERS" in os.environ:
            # A provider someone else serves (and restarts): not ours to watch.
            self._target = Target(
                running_sandbox, {**os.environ, **running_sandbox.terraform_env()}
            )
            return
        self._start_provider()

    def target(self) -> Target:
        """The target, with a live provider process (started again if it died)."""
        with self._lock:
            if self._pids and not all(running(pid) for pid in self._pids):
                self._progress.say(
                    f"the provider process (pid {', '.join(map(str, self._pids))}) is gone: "
                    "starting it again"
                )
                log.warning("the sandbox provider process died: starting it again")
                self._serving.close()
                self._start_provider()
                self.restarts += 1
            if self._target is None:
                raise RuntimeError("the provider host is not open")
            return self._target

    def close(self) -> None:
        with self._lock:
            self._serving.close()
            self._pids = ()

    def _start_provider(self) -> None:
        assert self._info is not None
        log_file = sandbox.sandbox_dir(self._state_dir) / "provider.log"
        env = self._serving.enter_context(self._info.reattached_env(log_file=log_file))
        # None with the real provider: Terraform starts it per command.
        self._pids = reattached_pids(env.get("TF_REATTACH_PROVIDERS", ""))
        self._target = Target(self._info, {**os.environ, **env})


def reattached_pids(value: str) -> tuple[int, ...]:
    """The provider processes a TF_REATTACH_PROVIDERS value points Terraform at."""
    try:
        providers = json.loads(value)
        return tuple(int(p["Pid"]) for p in providers.values() if "Pid" in p)
    except (ValueError, TypeError, AttributeError, KeyError):
        return ()


class Core:
    """The run store, the target, the engines and the outputs cache, shared by every
    operation of a daemon's life (or of one command)."""

    def __init__(
        self,
        state_dir: Path,
        store: RunStore,
        provider: ProviderHost,
        outputs: OutputsCache,
        *,
        timeout: float,
        locks: StackLocks | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.locks: StackLocks = locks or FileStackLocks(state_dir)
        """The stacks' locks every runner holds (files by default; PostgreSQL for
        replicas)."""
        self.store = store
        self.provider = provider
        self.outputs = outputs
        self.timeout = timeout
        self._engines: dict[str, Engine] = {}
        self._engines_lock = threading.Lock()

    @property
    def target(self) -> Target:
        return self.provider.target()

    def engine_for(self, stack: Stack) -> Engine:
        # One instance per engine name, so what it caches (its version) is shared.
        with self._engines_lock:
            if stack.engine not in self._engines:
                self._engines[stack.engine] = engine_for_stack(stack)
            return self._engines[stack.engine]

    def runner(
        self,
        view: View,
        progress: Progress,
        *,
        trigger: str = "cli",
        lock_wait: float = 0.0,
        mock_outputs: bool = False,
    ) -> StackRunner:
        """The operations on the stacks of view's commit (cheap: made per operation).

        mock_outputs: a from_stack variable whose output does not exist yet takes its
        manifest `mock:` value. Only `plan` and `ci plan` ask for it: apply, drift, heal,
        destroy and the daemon keep the default, and a missing output leaves the stack
        waiting. The runner then refuses every operation but plan (StackRunner)."""

        def workspace_for(s: Stack, log_file: Path | None) -> StackWorkspace:
            return build_workspace(
                stack=s,
                source=view.source_of(s),
                state_dir=self.state_dir,
                # Checked before each operation: a dead provider is started again.
                target=self.target,
                outputs_of=outputs_of,
                progress=progress.for_stack(s.name),
                log_file=log_file,
                timeout=self.timeout,
                use_mocks=mock_outputs,
            )

        def fetch_outputs(name: str) -> Mapping[str, Any]:
            # Only for a stack no operation has told the cache about: its init is
            # skipped when the work dir is initialised already.
            s = view.manifest.stack(name)
            ws = workspace_for(s, None)
            engine = self.engine_for(s)
            engine.prepare(ws)
            return engine.outputs(ws)

        def outputs_of(name: str) -> Mapping[str, Any]:
            return self.outputs.get(name, fetch_outputs)

        return StackRunner(
            state_dir=self.state_dir,
            store=self.store,
            source=view.source,
            engine_for=self.engine_for,
            workspace_for=workspace_for,
            locks=self.locks,
            trigger=trigger,
            lock_wait=lock_wait,
            outputs=self.outputs,
            plans_only=mock_outputs,
        )


@contextmanager
def open_core(
    state_dir: Path,
    progress: Progress,
    *,
    timeout: float,
    store: RunStore | None = None,
    locks: StackLocks | None = None,
    database_url: DatabaseUrl | None = None,
    artifact_store: str | None = None,
) -> Iterator[Core]:
    """store: a daemon's own (else opened here); locks: the stacks' locks (None: in the
    store's PostgreSQL database when it has one, so a person's command and the replicas
    exclude each other, else files in state_dir); closing the core closes what it opened."""
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with ExitStack() as stack:
        if store is None:
            store = stack.enter_context(
                RunStore.open(state_dir, database_url=database_url, artifact_store=artifact_store)
            )
        if locks is None and store.database_url is not None:
            locks = _database_locks(store.database_url, store.owner_token)
        for run in store.mark_interrupted():
            progress.say(
                f"run {run.id} of {run.stack} was left running by a dead process: interrupted"
            )
        swept = leftovers.sweep(state_dir)
        if swept:
            progress.say(
                f"removed {len(swept)} snapshot(s) and plan file(s) left by dead processes"
            )
        provider = ProviderHost(state_dir, progress)
        stack.callback(provider.close)
        provider.open()
        yield Core(
            state_dir,
            store,
            provider,
            OutputsCache(store.latest_state_change),
            timeout=timeout,
            locks=locks,
        )


def _database_locks(url: DatabaseUrl, owner_token: str) -> StackLocks:
    from infra_gitops import coordination
    from infra_gitops.coordination.locks import PostgresStackLocks

    coordination.migrate(url)
    return PostgresStackLocks(url, owner_token)
