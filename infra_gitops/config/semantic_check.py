"""What a schema cannot know: engine names, names across stacks, dependency cycles."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator, Sequence
from collections.abc import Set as AbstractSet

from infra_gitops.config.document import Document, KeyPath
from infra_gitops.config.entries import Entry
from infra_gitops.config.references import resolve, unresolved
from infra_gitops.config.settings import (
    is_from_env,
    is_from_stack,
    list_at,
    merged,
    setting,
    setting_sections,
)
from infra_gitops.discovery import dependency_cycle
from infra_gitops.errors import Problem
from infra_gitops.hints import did_you_mean, did_you_mean_or_choices, unknown_stack
from infra_gitops.statekeys import TERRAFORM_ENGINES, describe_identity, state_identity

__all__ = ["ENGINES", "semantic_problems"]

ENGINES = ("terraform", "tofu", "pulumi")
"""Engine names the manifest accepts (until the engine registry owns this list)."""


def semantic_problems(doc: Document, entries: Sequence[Entry]) -> list[Problem]:
    names = [entry.name for entry in entries]
    known = frozenset(names)  # looked up once per reference: in the list, quadratic
    # A stack with environments is not a stack, but naming it from another one's
    # environment means that environment's instance (config/references.py).
    referable = known | {entry.definition for entry in entries if entry.environment}
    problems = _engine_problems(doc)
    for section in setting_sections(doc):
        problems += _unknown_stack_problems(doc, section, names, referable)
        problems += _stray_mock_problems(doc, section)
    for entry in entries:
        problems += _sensitive_name_problems(doc, entry)
        problems += _instance_reference_problems(doc, entry, known, referable)
    problems += _promotion_problems(doc, entries)
    return problems + _cycle_problems(doc, entries) + _shared_state_problems(doc, entries)


def _promotion_problems(doc: Document, entries: Sequence[Entry]) -> list[Problem]:
    """A promotion order naming environments its stack does not have."""
    problems = []
    for position, stack in enumerate(list_at(doc, ("stacks",))):
        where: KeyPath = ("stacks", position, "promotion")
        if not isinstance(stack, dict) or not isinstance(stack.get("promotion"), dict):
            continue
        environments = [
            str(e.environment) for e in entries if e.declared_at == ("stacks", position)
        ]
        if not environments:
            problems.append(doc.problem(where, "a promotion is only for a stack with environments"))
            continue
        for index, name in enumerate(list_at(doc, (*where, "order"))):
            if isinstance(name, str) and name not in environments:
                problems.append(
                    doc.problem(
                        (*where, "order", index),
                        f"{name!r} is not an environment of stack {stack.get('name')!r}"
                        f"{did_you_mean_or_choices(name, environments)}",
                    )
                )
    return problems


def _instance_reference_problems(
    doc: Document, entry: Entry, known: AbstractSet[str], referable: AbstractSet[str]
) -> list[Problem]:
    """References to a stack with environments that name no instance from entry."""
    return [
        doc.problem(where, unresolved(name, entry, known))
        for section in entry.sections
        for where, name in _stack_references(doc, section)
        if name in referable
        and _reference_applies(doc, entry, where)
        and resolve(name, entry, known) is None
    ]


def _engine_problems(doc: Document) -> list[Problem]:
    problems = []
    for section in setting_sections(doc):
        engine = doc.get((*section, "engine"))
        if isinstance(engine, str) and engine not in ENGINES:
            problems.append(
                doc.problem(
                    (*section, "engine"),
                    f"unknown engine {engine!r}{did_you_mean_or_choices(engine, ENGINES)}",
                )
            )
    return problems


def _stack_references(doc: Document, section: KeyPath) -> Iterator[tuple[KeyPath, str]]:
    """(where, stack name) for each depends_on entry and from_stack variable of a section."""
    for position, name in enumerate(list_at(doc, (*section, "depends_on"))):
        if isinstance(name, str):
            yield (*section, "depends_on", position), name
    variables = doc.get((*section, "variables"))
    for variable, value in variables.items() if isinstance(variables, dict) else ():
        if is_from_stack(value) and isinstance(value["from_stack"], str):
            yield (*section, "variables", variable, "from_stack"), value["from_stack"]


def _unknown_stack_problems(
    doc: Document, section: KeyPath, names: Sequence[str], known: AbstractSet[str]
) -> list[Problem]:
    return [
        doc.problem(where, unknown_stack(name, names))
        for where, name in _stack_references(doc, section)
        if name not in known
    ]


def _stray_mock_problems(doc: Document, section: KeyPath) -> list[Problem]:
    """`mock:` in a mapping that reads like a from_stack reference without its from_stack
    key (a literal map with an `output` key). The schema refuses it next to from_env."""
    variables = doc.get((*section, "variables"))
    return [
        doc.problem(
            (*section, "variables", name, "mock"),
            "'mock' is only for a from_stack variable ({from_stack: STACK, output: NAME, "
            "mock: VALUE}); this mapping has no 'from_stack'",
        )
        for name, value in (variables.items() if isinstance(variables, dict) else ())
        if isinstance(value, dict)
        and "mock" in value
        and "output" in value
        and not is_from_stack(value)
        and not is_from_env(value)
    ]


def _sensitive_name_problems(doc: Document, entry: Entry) -> list[Problem]:
    variables = list(merged(doc, entry.sections, "variables"))
    return [
        doc.problem(
            (*own, "sensitive_variables", position),
            f"{name!r} is not a variable of stack "
            f"{entry.name if own == entry.where else entry.definition!r}"
            f"{did_you_mean(name, variables)}",
        )
        for own in entry.sections
        if own != ("defaults",)
        for position, name in enumerate(list_at(doc, (*own, "sensitive_variables")))
        if isinstance(name, str) and name not in variables
    ]


def _cycle_problems(doc: Document, entries: Sequence[Entry]) -> list[Problem]:
    names = {entry.name for entry in entries}
    edges: dict[tuple[str, str], KeyPath] = {}
    for entry in entries:
        for section in entry.sections:
            for where, name in _stack_references(doc, section):
                target = resolve(name, entry, names)
                if target is not None and _reference_applies(doc, entry, where):
                    edges.setdefault((entry.name, target), where)
    graph: dict[str, list[str]] = {entry.name: [] for entry in entries}
    for source, target in edges:
        graph[source].append(target)
    cycle = dependency_cycle(graph)
    if cycle is None:
        return []
    return [doc.problem(edges[(cycle[0], cycle[1])], "dependency cycle: " + " -> ".join(cycle))]


def _reference_applies(doc: Document, entry: Entry, where: KeyPath) -> bool:
    """A from_stack variable in defaults is overridden by the stack's own variable."""
    if "variables" not in where:
        return True
    variable = where[where.index("variables") + 1]
    section = where[: where.index("variables")]
    winner = next(
        s
        for s in reversed(entry.sections)
        if isinstance(doc.get((*s, "variables")), dict) and variable in doc.get((*s, "variables"))
    )
    return winner == section


def _shared_state_problems(doc: Document, entries: Sequence[Entry]) -> list[Problem]:
    """Two stacks whose settings resolve to one state would destroy each other's
    resources: the second one is refused, naming the first and where it is."""
    first: dict[tuple[str, ...], Entry] = {}
    problems = []
    for entry in entries:
        identity = _identity(doc, entry)
        if identity is None:
            continue
        if identity not in first:
            first[identity] = entry
            continue
        other = first[identity]
        where = _backend_key_path(doc, entry)
        problems.append(
            doc.problem(
                where,
                f"stacks {other.name!r} ({doc.file}:{doc.line(_backend_key_path(doc, other))}) "
                f"and {entry.name!r} would share one state ({_describe(identity)}): "
                "each would destroy what the other manages. Give each stack its own backend "
                "key, or leave `key` out: a stack then gets NAME/terraform.tfstate",
            )
        )
    return problems


def _identity(doc: Document, entry: Entry) -> tuple[str, ...] | None:
    engine = setting(doc, entry.sections, "engine") or "terraform"
    workspace = setting(doc, entry.sections, "workspace") or "default"
    settings = merged(doc, entry.sections, "backend")
    backend_file = setting(doc, entry.sections, "backend_file")
    if isinstance(backend_file, str) and engine in TERRAFORM_ENGINES:
        # The file's content is Terraform's to parse: stacks naming one file, with no
        # other key or bucket of their own, share the state it names.
        return (
            "terraform-backend-file",
            posixpath.normpath(backend_file),
            str(settings.get("bucket", "")),
            str(settings.get("key", "")),
            workspace,
        )
    return state_identity(
        name=entry.name, path=entry.path, engine=engine, workspace=workspace, settings=settings
    )


def _describe(identity: tuple[str, ...]) -> str:
    if identity[0] == "terraform-backend-file":
        return f"backend_file {identity[1]!r}, workspace {identity[-1]!r}"
    return describe_identity(identity)


def _backend_key_path(doc: Document, entry: Entry) -> KeyPath:
    """Where the stack's state is decided: its own backend key when it has one, else
    its entry (the settings then come from defaults)."""
    own = entry.sections[-1]
    backend = doc.get((*own, "backend"))
    if isinstance(backend, dict):
        return (*own, "backend", "key") if "key" in backend else (*own, "backend")
    return entry.where
