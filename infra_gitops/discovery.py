"""Which stacks a change touches, and in which order stacks run.

Dependencies point from a stack to the stacks it needs (depends_on, including the ones
implied by from_stack variables). Names outside the stacks given are ignored, so a
caller can order any subset.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import TYPE_CHECKING

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

_TERRAFORM_SUFFIXES = (".tf", ".tofu")
_MODULE_BLOCK = re.compile(r'^[ \t]*module[ \t]+"[^"\n]*"[ \t]*\{', re.MULTILINE)
_LOCAL_SOURCE = re.compile(r'^[ \t]*source[ \t]*=[ \t]*"(\.\.?/[^"\n]*)"', re.MULTILINE)


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
        or _touched_by(manifest.root, stack, changed_dirs)
    }
    return with_dependents(manifest.stacks, touched)


def _touched_by(root: Path, stack: Stack, changed_dirs: set[str]) -> bool:
    # The stack's own directory first: its local modules are read from disk only when
    # that does not settle it.
    if not changed_dirs:
        return False
    if stack.path in changed_dirs:
        return True
    return stack.engine != "pulumi" and not changed_dirs.isdisjoint(
        local_module_dirs(root, stack.path)
    )


def local_module_dirs(root: Path, directory: str) -> set[str]:
    """Repo-relative directories of the local modules (source = "./x" or "../x") that the
    Terraform files in directory use, transitively. Modules outside root are left out."""
    found: set[str] = set()
    pending = [directory]
    while pending:
        current = pending.pop()
        for source in _local_sources(root / current):
            module = posixpath.normpath(posixpath.join(current, source))
            if module == ".." or module.startswith("../") or module in found:
                continue
            if module != directory:
                found.add(module)
                pending.append(module)
    return found


def _local_sources(directory: Path) -> list[str]:
    if not directory.is_dir():
        return []
    sources: list[str] = []
    for file in sorted(directory.iterdir()):
        if file.suffix in _TERRAFORM_SUFFIXES and file.is_file():
            text = file.read_text(encoding="utf-8", errors="replace")
            for block in _module_blocks(text):
                sources += _LOCAL_SOURCE.findall(block)
    return sources


def _module_blocks(text: str) -> list[str]:
    """Bodies of the module blocks in text, found by brace counting."""
    blocks = []
    for match in _MODULE_BLOCK.finditer(text):
        depth, end = 1, match.end()
        while depth and end < len(text):
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            end += 1
        blocks.append(text[match.end() : end])
    return blocks


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
