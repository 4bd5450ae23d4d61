"""The manifest as a whole: every check in file order, then the Stack values."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from infra_gitops.config.backend_files import backend_file_problems
from infra_gitops.config.build import build_stack
from infra_gitops.config.entries import stack_entries
from infra_gitops.config.policies import PolicyRule, policy_problems, policy_rules
from infra_gitops.config.prune import PruneLimits, prune_limits
from infra_gitops.config.schema_check import schema_problems
from infra_gitops.config.semantic_check import semantic_problems
from infra_gitops.config.sync_windows import SyncWindow, sync_window_problems, sync_windows
from infra_gitops.config.unmanaged import UnmanagedSettings, unmanaged_problems, unmanaged_settings
from infra_gitops.config.yaml_source import read_document
from infra_gitops.errors import ConfigError, Problem
from infra_gitops.hints import unknown_stack
from infra_gitops.models import Stack
from infra_gitops.stacknames import matches

__all__ = ["MANIFEST_NAME", "Manifest", "load_manifest", "validate_manifest"]

MANIFEST_NAME = "gitops.yaml"


@dataclass(frozen=True)
class Manifest:
    """A valid manifest: declared stacks in order, then discovered ones."""

    path: Path
    """The manifest file (absolute)."""
    stacks: tuple[Stack, ...]
    policies: tuple[PolicyRule, ...] = ()
    """Rules plans are checked against in CI (the `policies` section)."""
    sync_windows: tuple[SyncWindow, ...] = ()
    """When the daemon may apply (the `sync_windows` section)."""
    prune: PruneLimits = PruneLimits()
    """How many stacks one commit may prune (the `prune` section)."""
    unmanaged: UnmanagedSettings = UnmanagedSettings()
    """Scan interval and ignore rules of `unmanaged` (the `unmanaged` section)."""

    @property
    def root(self) -> Path:
        """The repo root: stack paths are relative to it."""
        return self.path.parent

    @cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(stack.name for stack in self.stacks)

    @cached_property
    def _by_name(self) -> dict[str, Stack]:
        # Callers look stacks up one by one over every stack: a scan each would make
        # a pass over 10,000 stacks quadratic.
        return {stack.name: stack for stack in self.stacks}

    def declares(self, name: str) -> bool:
        return name in self._by_name

    def matching(self, pattern: str) -> list[Stack]:
        """The stacks a name or glob selects (stacknames.matches), in manifest order.
        Raises ConfigError when it selects none."""
        exact = self._by_name.get(pattern)
        if exact is not None:
            return [exact]
        found = [stack for stack in self.stacks if matches(pattern, stack.name)]
        if not found:
            raise ConfigError(unknown_stack(pattern, self.names))
        return found

    def stack(self, name: str) -> Stack:
        found = self._by_name.get(name)
        if found is None:
            raise ConfigError(unknown_stack(name, self.names))
        return found


def load_manifest(repo_root: Path) -> Manifest:
    """The manifest of the repo at repo_root. Raises ConfigError listing every problem."""
    problems, manifest = _check(repo_root)
    if problems or manifest is None:
        raise ConfigError(problems=problems)
    return manifest


def validate_manifest(repo_root: Path) -> list[Problem]:
    """Every problem in the repo's manifest, in file order; empty when it is valid."""
    return _check(repo_root)[0]


def _check(repo_root: Path) -> tuple[list[Problem], Manifest | None]:
    root = repo_root.absolute()
    doc, problems = read_document(root, MANIFEST_NAME)
    if doc is None:
        return _sorted_unique(problems), None
    problems += schema_problems(doc)
    entries, entry_problems = stack_entries(doc, root)
    problems += entry_problems
    problems += semantic_problems(doc, entries)
    problems += backend_file_problems(doc, root, entries)
    problems += policy_problems(
        doc, list(dict.fromkeys(n for e in entries for n in (e.name, e.definition)))
    )
    problems += sync_window_problems(doc)
    problems += unmanaged_problems(doc)
    problems = _sorted_unique(problems)
    if problems:
        return problems, None
    names = frozenset(entry.name for entry in entries)
    stacks = tuple(build_stack(doc, entry, names) for entry in entries)
    return [], Manifest(
        path=root / MANIFEST_NAME,
        stacks=stacks,
        policies=policy_rules(doc),
        sync_windows=sync_windows(doc),
        prune=prune_limits(doc),
        unmanaged=unmanaged_settings(doc),
    )


def _sorted_unique(problems: Sequence[Problem]) -> list[Problem]:
    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=lambda p: (p.line is None, p.line or 0))
