"""Which stacks a change touches, and in which order stacks run.

Dependencies point from a stack to the stacks it needs (depends_on, including the ones
implied by from_stack variables). Names outside the stacks given are ignored, so a
caller can order any subset.
"""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Iterable, Mapping
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import TYPE_CHECKING

from infra_gitops.engines import tfconfig
from infra_gitops.errors import ConfigError
from infra_gitops.hints import did_you_mean
from infra_gitops.models import Stack

if TYPE_CHECKING:  # config imports this module at run time
    from infra_gitops.config import Manifest

__all__ = [
    "affected_stacks",
    "dependency_cycle",
    "dependency_order",
    "local_module_dirs",
    "with_dependencies",
    "with_dependents",
]

log = logging.getLogger(__name__)


def dependency_cycle(graph: Mapping[str, Iterable[str]]) -> list[str] | None:
    """A cycle in graph (name -> names it depends on) as [a, b, a] (a depends on b,
    b on a), starting at the earliest name in graph order; None when there is none."""
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as exc:
        # graphlib lists each node before the nodes that depend on it: reverse it.
        cycle = list(reversed(exc.args[1]))[:-1]
        order = list(graph)
        start = min(
            range(len(cycle)),
            key=lambda i: order.index(cycle[i]) if cycle[i] in order else len(order),
        )
        cycle = cycle[start:] + cycle[:start]
        return [*cycle, cycle[0]]
    return None


def dependency_order(stacks: Iterable[Stack]) -> list[list[Stack]]:
    """Stacks in waves: each wave depends only on earlier ones. Within a wave, the
    given order. Raises ConfigError on a cycle."""
    stacks = list(stacks)
    graph = _graph(stacks)
    cycle = dependency_cycle(graph)
    if cycle is not None:
        raise ConfigError("dependency cycle: " + " -> ".join(cycle))
    position = {stack.name: index for index, stack in enumerate(stacks)}
    by_name = {stack.name: stack for stack in stacks}
    sorter = TopologicalSorter(graph)
    sorter.prepare()
    waves: list[list[Stack]] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=position.__getitem__)
        waves.append([by_name[name] for name in ready])
        sorter.done(*ready)
    return waves


def with_dependents(stacks: Iterable[Stack], names: Iterable[str]) -> set[str]:
    """names plus every stack that depends on one of them, directly or not."""
    stacks = list(stacks)
    dependents: dict[str, set[str]] = {stack.name: set() for stack in stacks}
    for source, targets in _graph(stacks).items():
        for target in targets:
            dependents[target].add(source)
    return _closure(dependents, names)


def with_dependencies(stacks: Iterable[Stack], names: Iterable[str]) -> set[str]:
    """names plus every stack one of them depends on, directly or not."""
    return _closure(_graph(list(stacks)), names)


def affected_stacks(
    manifest: Manifest,
    changed_paths: Iterable[str],
    old_manifest: Manifest | None = None,
) -> set[str]:
    """Stacks of manifest that a change touches, plus their dependents.

    A stack is touched when a changed path (repo-relative, POSIX) is in its directory or
    in a local module it uses (transitively), or when its manifest entry differs from
    old_manifest's (new stacks count as touched). When gitops.yaml changed and there is
    no old manifest to compare with, every stack counts as touched. Stacks that exist
    only in old_manifest are not returned.
    """
    changed = {posixpath.normpath(path) for path in changed_paths}
    if manifest.path.name in changed and old_manifest is None:
        return set(manifest.names)
    old = {stack.name: stack for stack in old_manifest.stacks} if old_manifest else {}
    # Every directory holding a changed path: a stack is touched when one of its
    # directories is among them. One set lookup per directory, not a scan of every
    # changed path per stack (quadratic when a commit changes many stacks at once).
    changed_dirs = _containing_dirs(changed)
    touched = {
        stack.name
        for stack in manifest.stacks
        if (old_manifest is not None and old.get(stack.name) != stack)
        # A pinned instance's code comes from its pin: only moving the pin (its
        # manifest entry) touches it.
        or (stack.revision is None and _touched_by(manifest.root, stack, changed_dirs))
    }
    return with_dependents(manifest.stacks, touched)


def _touched_by(root: Path, stack: Stack, changed_dirs: set[str]) -> bool:
    # The stack's own directory first: its local modules are read from disk only when
    # that does not settle it.
    if not changed_dirs:
        return False
    if stack.path in changed_dirs:
        return True
    if stack.engine == "pulumi":
        return False
    tree = tfconfig.read_module_tree(root, stack.path, within_base=True, calls_only=True)
    if not changed_dirs.isdisjoint(module.path for module in tree):
        return True
    unreadable = tfconfig.unreadable_files(tree)
    for path, problem in unreadable:
        # Which modules that file calls is unknown: never skip the stack on a guess.
        # Its plan then fails with Terraform's own diagnostic if the file is broken.
        log.warning(
            "%s: cannot be parsed (%s): stack %s counts as affected", path, problem, stack.name
        )
    return bool(unreadable)


def local_module_dirs(root: Path, directory: str) -> set[str]:
    """Repo-relative directories of the local modules (source = "./x" or "../x") that the
    Terraform files in directory use, transitively (read with a real parser, see
    engines/tfconfig.py). Modules outside root are left out; what an unreadable file
    calls is unknown (affected_stacks counts its stack as touched)."""
    tree = tfconfig.read_module_tree(root, directory, within_base=True, calls_only=True)
    start = posixpath.normpath(directory)
    return {module.path for module in tree if module.path != start}


def _containing_dirs(paths: Iterable[str]) -> set[str]:
    """Each path, every directory above it, and "." (the repo root) when there is any:
    the directories a path is within."""
    found: set[str] = set()
    for path in paths:
        while path not in found:
            found.add(path)
            path = posixpath.dirname(path) or "."
    return found


def _graph(stacks: list[Stack]) -> dict[str, list[str]]:
    names = {stack.name for stack in stacks}
    return {stack.name: [name for name in stack.depends_on if name in names] for stack in stacks}


def _closure(edges: Mapping[str, Iterable[str]], names: Iterable[str]) -> set[str]:
    start = set(names)
    unknown = sorted(start - set(edges))
    if unknown:
        named = ", ".join(name + did_you_mean(name, list(edges)) for name in unknown)
        raise ConfigError(
            f"unknown stack(s): {named}; known stacks: {', '.join(edges) or '(none)'}"
        )
    result = set(start)
    pending = list(start)
    while pending:
        for name in edges[pending.pop()]:
            if name not in result:
                result.add(name)
                pending.append(name)
    return result
