"""Which stacks the manifest has: declared under 'stacks', then discovered by 'discover'.

A stack is first an Entry (a name, a path and where its settings are written) so that
cross-stack checks can run before any Stack value is built.
"""

from __future__ import annotations

import itertools
import posixpath
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from infra_gitops.config.directories import directory_problem, glob_stack_dirs
from infra_gitops.config.document import Document, KeyPath, render_key_path
from infra_gitops.config.settings import list_at, sections_of, setting
from infra_gitops.errors import Problem
from infra_gitops.stacknames import definition


@dataclass(frozen=True)
class Entry:
    """A stack before it is built: where its settings are written, in override order."""

    name: str
    path: str
    where: KeyPath
    """stacks[i] or discover[j]; for an instance, its environment (environments[j], or
    the matrix)."""
    sections: tuple[KeyPath, ...]
    """Mappings holding its settings, later ones override: (defaults, stacks[i]), and
    for an instance of a stack with environments stacks[i].environments[j] (a list) or
    the matrix values given as mappings, in dimension order."""
    environment: str | None = None
    """The environment of an instance (its name is DEFINITION@ENVIRONMENT)."""
    declared_at: KeyPath | None = None
    """For an instance: stacks[i], where its stack is declared."""

    @property
    def definition(self) -> str:
        """The name the stack is declared with (app for app@prod)."""
        return definition(self.name)


def stack_entries(doc: Document, root: Path) -> tuple[list[Entry], list[Problem]]:
    """Declared entries in order, then discovered ones; and what is wrong with them."""
    declared, problems = _declared_entries(doc, root)
    discovered, discovery_problems = _discovered_entries(doc, root, declared)
    return declared + discovered, problems + discovery_problems


def _declared_entries(doc: Document, root: Path) -> tuple[list[Entry], list[Problem]]:
    entries: list[Entry] = []
    problems: list[Problem] = []
    first_by_name: dict[str, Entry] = {}
    for position, raw in enumerate(list_at(doc, ("stacks",))):
        where: KeyPath = ("stacks", position)
        name, path = (raw.get("name"), raw.get("path")) if isinstance(raw, dict) else (None, None)
        location_problem = directory_problem(root, path) if isinstance(path, str) else None
        if location_problem:
            problems.append(doc.problem((*where, "path"), location_problem))
        if not isinstance(name, str) or not isinstance(path, str):
            continue
        if name in first_by_name:
            first = first_by_name[name]
            problems.append(
                doc.problem(
                    (*where, "name"),
                    f"duplicate stack name {name!r} "
                    f"(also {render_key_path(first.where)} at line "
                    f"{doc.line(first.where)})",
                )
            )
            continue
        entry = Entry(name, posixpath.normpath(path), where, sections_of(doc, where))
        first_by_name[name] = entry
        instances, instance_problems = _instances(doc, entry)
        problems += instance_problems
        entries += instances if instances is not None else [entry]
    return entries, problems


def _instances(doc: Document, entry: Entry) -> tuple[list[Entry] | None, list[Problem]]:
    """The instances of a stack with environments (None: it has none), one per
    environment, named DEFINITION@ENVIRONMENT, its settings over the stack's."""
    listed = doc.get((*entry.where, "environments"))
    if isinstance(listed, dict):
        candidates = list(_matrix(doc, (*entry.where, "environments")))
    elif isinstance(listed, list):
        candidates = [
            (
                item["name"],
                (*entry.where, "environments", position),
                ((*entry.where, "environments", position),),
            )
            for position, item in enumerate(listed)
            if isinstance(item, dict) and isinstance(item.get("name"), str)
        ]
    else:
        return None, []
    instances: list[Entry] = []
    problems: list[Problem] = []
    first: dict[str, KeyPath] = {}
    for environment, where, own in candidates:
        if environment in first:
            problems.append(
                doc.problem(
                    where if isinstance(listed, dict) else (*where, "name"),
                    f"duplicate environment {environment!r} of stack {entry.name!r} "
                    f"(also at line {doc.line(first[environment])})",
                )
            )
            continue
        first[environment] = where
        instances.append(
            Entry(
                f"{entry.name}@{environment}",
                entry.path,
                where,
                (*entry.sections, *own),
                environment=environment,
                declared_at=entry.where,
            )
        )
    return instances, problems


def _matrix(doc: Document, at: KeyPath) -> Iterator[tuple[str, KeyPath, tuple[KeyPath, ...]]]:
    """(name, where, its settings' sections) of each combination of a matrix, in order:
    the values' names joined with '-', and the sections of the values given as mappings."""
    matrix = doc.get((*at, "matrix"))
    if not isinstance(matrix, dict):
        return
    dimensions = [
        [
            (value if isinstance(value, str) else value.get("name"), (*at, "matrix", key, j))
            for j, value in enumerate(values)
        ]
        for key, values in matrix.items()
        if isinstance(values, list)
    ]
    for combination in itertools.product(*dimensions):
        names = [name for name, _ in combination]
        if not all(isinstance(name, str) for name in names):
            continue
        sections = tuple(where for _, where in combination if isinstance(doc.get(where), dict))
        yield "-".join(names), (*at, "matrix"), sections


def _discovered_entries(
    doc: Document, root: Path, declared: Sequence[Entry]
) -> tuple[list[Entry], list[Problem]]:
    taken_paths = {entry.path for entry in declared}
    by_name: dict[str, Entry] = {entry.name: entry for entry in declared}
    entries: list[Entry] = []
    problems: list[Problem] = []
    for position, rule in enumerate(list_at(doc, ("discover",))):
        where: KeyPath = ("discover", position)
        if not isinstance(rule, dict) or not isinstance(rule.get("glob"), str):
            continue
        sections = sections_of(doc, where)
        engine = setting(doc, sections, "engine")
        directories, glob_problem = glob_stack_dirs(root, rule["glob"], engine)
        if glob_problem:
            problems.append(doc.problem((*where, "glob"), glob_problem))
        for path in directories:
            if path in taken_paths:
                continue
            taken_paths.add(path)
            entry, problem = _discovered(doc, where, sections, path, by_name)
            if problem:
                problems.append(problem)
            if entry:
                by_name[entry.name] = entry
                entries.append(entry)
    return entries, problems


def _discovered(
    doc: Document,
    where: KeyPath,
    sections: tuple[KeyPath, ...],
    path: str,
    by_name: Mapping[str, Entry],
) -> tuple[Entry | None, Problem | None]:
    name = re.sub(r"[^a-z0-9_-]", "-", posixpath.basename(path).lower()).lstrip("-_")
    at = (*where, "glob")
    if not name:
        return None, doc.problem(
            at,
            f"cannot name a stack after directory {path!r}: declare it under 'stacks' with a name",
        )
    other = by_name.get(name)
    if other is None:
        return Entry(name, path, where, sections), None
    how = "declared" if other.where[0] == "stacks" else "discovered"
    return None, doc.problem(
        at,
        f"discovered stack {name!r} at {path} clashes with stack "
        f"{name!r} {how} at {render_key_path(other.where)} (line "
        f"{doc.line(other.where)}) for {other.path}; declare one "
        "of them under 'stacks' with another name",
    )
