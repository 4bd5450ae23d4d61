"""Build the StackWorkspace an engine gets: where, with which environment and values.

This is the one place that merges the process environment, the sandbox (the offline
local cloud, when it is up), the stack's own environment and its variables, and that
collects every secret value so engines and records can scrub them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra_gitops.engines.base import ProgressSink, StackWorkspace
from infra_gitops.errors import ConfigError, OutputsPendingError
from infra_gitops.models import SENSITIVE_MARKER, Stack
from infra_gitops.sandbox import SandboxInfo
from infra_gitops.source import Source

OutputsLookup = Callable[[str], Mapping[str, Any]]
"""Returns the current outputs of a stack by name (used for from_stack variables)."""


@dataclass(frozen=True)
class Target:
    """Where the stacks run: the sandbox when it is up, else the environment's cloud."""

    sandbox: SandboxInfo | None
    base_env: Mapping[str, str]
    """The process environment plus, on the sandbox, its endpoint, credentials and
    provider settings (see session.py)."""

    def describe(self) -> str:
        if self.sandbox is None:
            return "cloud: from the environment (AWS credentials and endpoints as configured)"
        real = " (real hashicorp/aws)" if self.sandbox.real_provider is not None else ""
        return f"cloud: local sandbox at {self.sandbox.endpoint}{real}"


def work_dir_for(state_dir: Path, source: Source, stack: Stack) -> Path:
    """Per repo, stack and workspace: engine data survives between runs (init is reused)."""
    repo_key = hashlib.sha256(str(source.repo_path).encode()).hexdigest()[:12]
    return state_dir / "work" / repo_key / stack.name / stack.workspace


@dataclass(frozen=True)
class ResolvedVariables:
    values: dict[str, Any]
    secrets: frozenset[str]
    """The literal secrets among the values."""
    mocked: tuple[str, ...] = ()
    """"STACK.OUTPUT" of each from_stack value taken from its `mock:` (the output did not
    exist yet)."""


def resolve_variables(
    stack: Stack, env: Mapping[str, str], outputs_of: OutputsLookup, *, use_mocks: bool = False
) -> ResolvedVariables:
    """The stack's variable values. With use_mocks (only `plan` and `ci plan` ask for it),
    a from_stack output that does not exist yet takes the variable's mock value instead of
    raising OutputsPendingError; the real output always wins once it exists."""
    values: dict[str, Any] = dict(stack.variables)
    for var, env_name in stack.variables_from_env.items():
        if env_name not in env:
            raise ConfigError(
                f"stack {stack.name}: variable {var!r} reads the environment variable "
                f"{env_name}, which is not set"
            )
        values[var] = env[env_name]
    mocked: list[str] = []
    for var, (other, output) in stack.variables_from_stack.items():
        outputs = outputs_of(other)
        if output not in outputs or outputs[output] is None:
            if use_mocks and var in stack.mock_outputs:
                values[var] = stack.mock_outputs[var]
                mocked.append(f"{other}.{output}")
                continue
            raise OutputsPendingError(
                f"waiting on {other}: variable {var!r} takes its output {output!r}, "
                f"which does not exist until {other} is applied"
            )
        if outputs[output] == SENSITIVE_MARKER:
            raise ConfigError(
                f"stack {stack.name}: variable {var!r} takes output {output!r} of stack "
                f"{other}, which is sensitive; pass secrets with from_env instead"
            )
        values[var] = outputs[output]
    secrets = frozenset(
        text
        for name in stack.sensitive_variables
        if values.get(name) is not None
        for text in _secret_texts(values[name])
    )
    return ResolvedVariables(values, secrets, tuple(mocked))


def _secret_texts(value: Any) -> set[str]:
    # A mock may be a list or a map: scrub it as JSON (how engines print it) too.
    if isinstance(value, list | dict):
        return {str(value), json.dumps(value)}
    return {str(value)}


def build_workspace(
    *,
    stack: Stack,
    source: Source,
    state_dir: Path,
    target: Target,
    outputs_of: OutputsLookup,
    progress: ProgressSink,
    log_file: Path | None = None,
    timeout: float = 1800.0,
    use_mocks: bool = False,
) -> StackWorkspace:
    """use_mocks: from_stack variables may take their mock values (resolve_variables)."""
    env: dict[str, str] = dict(target.base_env)
    backend_config: dict[str, Any] = {}
    override_files: dict[str, str] = {}
    if target.sandbox is not None:
        backend_config.update(target.sandbox.backend_config(stack.name))
        override_files.update(target.sandbox.override_files())
    env.update(stack.env)
    backend_config.update(stack.backend_config)
    resolved = resolve_variables(stack, env, outputs_of, use_mocks=use_mocks)
    work_dir = work_dir_for(state_dir, source, stack)
    work_dir.mkdir(parents=True, exist_ok=True)
    env.setdefault("TF_PLUGIN_CACHE_DIR", str(_plugin_cache(state_dir)))
    return StackWorkspace(
        stack=stack,
        source_dir=source.root / stack.path,
        work_dir=work_dir,
        env=env,
        variables=resolved.values,
        secrets=resolved.secrets,
        mocked_outputs=resolved.mocked,
        override_files=override_files,
        backend_config=backend_config,
        backend_file=source.root / stack.backend_file if stack.backend_file else None,
        timeout=timeout,
        log_file=log_file,
        progress=progress,
    )


def _plugin_cache(state_dir: Path) -> Path:
    path = state_dir / "plugin-cache"
    path.mkdir(parents=True, exist_ok=True)
    return path
