"""The manifest (gitops.yaml at the repo root): loading, validation, Stack values.

Structure is checked by the JSON Schema shipped as package data (schema/gitops.schema.json,
also usable by editors); this module adds what a schema cannot know (the file system,
names across stacks, dependency cycles) and turns every finding into a Problem that says
where it is (file, line, key path) and what was expected.
"""

from __future__ import annotations

import difflib
import json
import posixpath
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from infra_gitops.discovery import dependency_cycle
from infra_gitops.durations import parse_duration
from infra_gitops.errors import ConfigError, Problem
from infra_gitops.models import Policy, Stack

__all__ = [
    "ENGINES",
    "MANIFEST_NAME",
    "ConfigError",
    "Manifest",
    "Problem",
    "load_manifest",
    "load_schema",
    "render_key_path",
    "validate_manifest",
]

MANIFEST_NAME = "gitops.yaml"
ENGINES = ("terraform", "tofu", "pulumi")
"""Engine names the manifest accepts (until the engine registry owns this list)."""

_DEFAULT_ENGINE = "terraform"
_DEFAULT_WORKSPACE = "default"
_TERRAFORM_FILES = ("*.tf", "*.tf.json", "*.tofu")
_PULUMI_FILES = ("Pulumi.yaml", "Pulumi.yml")

KeyPath = tuple[str | int, ...]


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class Manifest:
    """A valid manifest: declared stacks in order, then discovered ones."""

    path: Path
    """The manifest file (absolute)."""
    stacks: tuple[Stack, ...]

    @property
    def root(self) -> Path:
        """The repo root: stack paths are relative to it."""
        return self.path.parent

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(stack.name for stack in self.stacks)

    def stack(self, name: str) -> Stack:
        for stack in self.stacks:
            if stack.name == name:
                return stack
        known = ", ".join(self.names) or "(none)"
        raise ConfigError(f"unknown stack {name!r}{_did_you_mean(name, self.names)}; "
                          f"known stacks: {known}")


# --------------------------------------------------------------------------- public API


def load_manifest(repo_root: Path) -> Manifest:
    """The manifest of the repo at repo_root. Raises ConfigError listing every problem."""
    problems, manifest = _check(repo_root)
    if problems or manifest is None:
        raise ConfigError(problems=problems)
    return manifest


def validate_manifest(repo_root: Path) -> list[Problem]:
    """Every problem in the repo's manifest, in file order; empty when it is valid."""
    return _check(repo_root)[0]


def load_schema() -> dict[str, Any]:
    """The manifest's JSON Schema (draft 2020-12), shipped as package data."""
    text = resources.files("infra_gitops").joinpath("schema/gitops.schema.json").read_text(
        encoding="utf-8"
    )
    schema: dict[str, Any] = json.loads(text)
    return schema


def render_key_path(path: KeyPath) -> str:
    """("stacks", 1, "policy") -> "stacks[1].policy"; odd keys are quoted: env["a.b"]."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z0-9_-]+", part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out


def _check(repo_root: Path) -> tuple[list[Problem], Manifest | None]:
    root = repo_root.absolute()
    doc, problems = _read(root)
    if doc is None:
        return _sorted_unique(problems), None
    problems += _schema_problems(doc)
    entries, entry_problems = _entries(doc, root)
    problems += entry_problems
    problems += _reference_problems(doc, entries)
    problems = _sorted_unique(problems)
    if problems:
        return problems, None
    stacks = tuple(_build_stack(doc, entry) for entry in entries)
    return [], Manifest(path=root / MANIFEST_NAME, stacks=stacks)


# --------------------------------------------------------------------------- YAML with lines


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps dates as strings: variables are passed on as JSON."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass(frozen=True)
class _Document:
    data: Any
    lines: Mapping[KeyPath, int]
    """Key path -> 1-based line of the key (mapping entries) or of the item (sequences)."""
    file: str

    def line(self, path: KeyPath) -> int | None:
        # A missing key has no line: point at the nearest enclosing one.
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return None

    def problem(self, path: KeyPath, message: str) -> Problem:
        return Problem(self.file, self.line(path), render_key_path(path), message)

    def get(self, path: KeyPath) -> Any:
        """The value at path, or None when any step is missing or of the wrong type."""
        value = self.data
        for part in path:
            in_list = isinstance(part, int) and isinstance(value, list) and part < len(value)
            in_mapping = isinstance(value, dict) and part in value
            if not (in_list or in_mapping):
                return None
            value = value[part]
        return value


def _read(root: Path) -> tuple[_Document | None, list[Problem]]:
    path = root / MANIFEST_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        message = f"manifest not found: expected {path}"
        return None, [Problem(MANIFEST_NAME, None, "", message)]
    except IsADirectoryError:
        return None, [Problem(MANIFEST_NAME, None, "", f"{path} is a directory, not a file")]
    except UnicodeDecodeError as exc:
        message = f"not UTF-8 text (byte {exc.start}): {exc.reason}"
        return None, [Problem(MANIFEST_NAME, None, "", message)]
    return _parse(text, MANIFEST_NAME)


def _parse(text: str, file: str) -> tuple[_Document | None, list[Problem]]:
    """The document, or None when it cannot be checked further; and what is wrong."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None or (isinstance(node, yaml.ScalarNode) and node.value == ""):
            message = "the manifest is empty: expected a mapping with 'version: 1' and 'stacks'"
            return None, [Problem(file, None, "", message)]
        walk = _LineIndex(loader, file, {(): node.start_mark.line + 1})
        walk.visit(node, (), frozenset())
        if walk.fatal:
            return None, walk.fatal + walk.problems
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        return None, [_yaml_problem(exc, file)]
    except yaml.YAMLError as exc:
        return None, [Problem(file, None, "", f"invalid YAML: {exc}")]
    finally:
        loader.dispose()
    return _Document(data=data, lines=walk.lines, file=file), walk.problems


def _yaml_problem(exc: yaml.MarkedYAMLError, file: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    message = f"invalid YAML: {exc.problem or exc.context}"
    if exc.context and exc.problem and exc.context_mark is not None:
        context = f"{exc.context} at line {exc.context_mark.line + 1}"
        # The composer words its problems as the second half of a sentence.
        message = (f"invalid YAML: {context}, {exc.problem}" if exc.problem.startswith("but ")
                   else f"{message} ({context})")
    return Problem(file, None if mark is None else mark.line + 1, "", message)


@dataclass
class _LineIndex:
    """Walks the composed YAML nodes: the line of every key and item, duplicate keys."""

    loader: _Loader
    file: str
    lines: dict[KeyPath, int]
    """Key path -> 1-based line of the key (mappings) or of the item (sequences)."""
    problems: list[Problem] = field(default_factory=list)
    """Duplicate keys: the data (last one wins) can still be checked."""
    fatal: list[Problem] = field(default_factory=list)
    """Shapes JSON cannot hold (non-string keys, recursion): nothing more to check."""

    def visit(self, node: yaml.Node, path: KeyPath, active: frozenset[int]) -> None:
        if id(node) in active:
            self._report(self.fatal, node, path,
                         "recursive YAML alias: a value cannot contain itself")
            return
        active = active | {id(node)}
        if isinstance(node, yaml.SequenceNode):
            for position, item in enumerate(node.value):
                self.lines[(*path, position)] = item.start_mark.line + 1
                self.visit(item, (*path, position), active)
        elif isinstance(node, yaml.MappingNode):
            self._visit_mapping(node, path, active)

    def _visit_mapping(self, node: yaml.MappingNode, path: KeyPath, active: frozenset[int]) -> None:
        seen: dict[str, int] = {}
        merged: list[yaml.Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                merged.append(value_node)
                continue
            key = self._key(key_node, path)
            if key is None:
                continue
            line = key_node.start_mark.line + 1
            if key in seen:
                self._report(self.problems, key_node, (*path, key),
                             f"duplicate key {key!r} (first at line {seen[key]})")
            seen.setdefault(key, line)
            self.lines[(*path, key)] = line
            self.visit(value_node, (*path, key), active)
        # `<<: *anchor` keys count as written where the anchor was, unless overridden here.
        for source in merged:
            sources = source.value if isinstance(source, yaml.SequenceNode) else [source]
            for mapping in sources:
                if isinstance(mapping, yaml.MappingNode):
                    self._visit_merged(mapping, path, seen, active)

    def _visit_merged(
        self, mapping: yaml.MappingNode, path: KeyPath, seen: Mapping[str, int],
        active: frozenset[int],
    ) -> None:
        for key_node, value_node in mapping.value:
            key = self._key(key_node, path)
            if key is not None and key not in seen and (*path, key) not in self.lines:
                self.lines[(*path, key)] = key_node.start_mark.line + 1
                self.visit(value_node, (*path, key), active)

    def _key(self, key_node: yaml.Node, path: KeyPath) -> str | None:
        key = (self.loader.construct_object(key_node)
               if isinstance(key_node, yaml.ScalarNode) else None)
        if isinstance(key, str):
            return key
        shown = key_node.value if isinstance(key_node, yaml.ScalarNode) else "a collection"
        self._report(self.fatal, key_node, path,
                     f"key {shown!r} is not a string: quote it")
        return None

    def _report(self, into: list[Problem], node: yaml.Node, path: KeyPath, message: str) -> None:
        into.append(Problem(self.file, node.start_mark.line + 1, render_key_path(path), message))


# --------------------------------------------------------------------------- schema


def _schema_problems(doc: _Document) -> list[Problem]:
    validator = Draft202012Validator(load_schema())
    problems: list[Problem] = []
    for error in validator.iter_errors(doc.data):
        problems += _problems_of(error, doc)
    return problems


def _problems_of(error: ValidationError, doc: _Document) -> list[Problem]:
    path: KeyPath = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = list(schema.get("properties", {}))
        return [doc.problem((*path, key), _unknown_key(key, known))
                for key in error.instance if key not in known]
    if error.validator == "required" and isinstance(error.instance, dict):
        return [doc.problem(path, f"missing required key {key!r}")
                for key in error.validator_value if key not in error.instance]
    if "propertyNames" in error.schema_path:
        hint = schema.get("patternErrorMessage", error.message)
        return [doc.problem((*path, error.instance), f"invalid name {error.instance!r}: {hint}")]
    if error.validator in ("anyOf", "oneOf"):
        return _alternatives_problems(error, doc, path, schema)
    return [doc.problem(path, _expected(error, schema))]


def _alternatives_problems(
    error: ValidationError, doc: _Document, path: KeyPath, schema: Mapping[str, Any]
) -> list[Problem]:
    if error.context and all(sub.validator == "required" for sub in error.context):
        keys = " or ".join(repr(key) for sub in error.context for key in sub.validator_value)
        return [doc.problem(path, f"missing required key: {keys}")]
    if "errorMessage" in schema or not error.context:
        return [doc.problem(path, _expected(error, schema))]
    closest = best_match(error.context)
    return _problems_of(closest, doc) if closest is not None else []


def _expected(error: ValidationError, schema: Mapping[str, Any]) -> str:
    if error.validator == "pattern" and "patternErrorMessage" in schema:
        expected = str(schema["patternErrorMessage"])
    elif error.validator == "uniqueItems":
        return "duplicate entries: each may appear once"
    elif "errorMessage" in schema:
        expected = str(schema["errorMessage"])
    else:
        return str(error.message)
    return f"{expected}, got {_show(error.instance)}"


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    return str(value)


def _unknown_key(key: Any, known: Sequence[str]) -> str:
    hint = _did_you_mean(str(key), known)
    return f"unknown key {str(key)!r}" + (hint or f" (expected one of: {', '.join(known)})")


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


# --------------------------------------------------------------------------- stack entries


@dataclass(frozen=True)
class _Entry:
    """A stack before it is built: where its settings are written, in override order."""

    name: str
    path: str
    where: KeyPath
    """stacks[i] or discover[j]."""
    sections: tuple[KeyPath, ...]
    """Mappings holding its settings, later ones override: (defaults, stacks[i])."""


def _entries(doc: _Document, root: Path) -> tuple[list[_Entry], list[Problem]]:
    declared, problems = _declared_entries(doc, root)
    discovered, discovery_problems = _discovered_entries(doc, root, declared)
    return declared + discovered, problems + discovery_problems


def _sections_of(doc: _Document, own: KeyPath) -> tuple[KeyPath, ...]:
    return (("defaults",), own) if isinstance(doc.get(("defaults",)), dict) else (own,)


def _declared_entries(doc: _Document, root: Path) -> tuple[list[_Entry], list[Problem]]:
    entries: list[_Entry] = []
    problems: list[Problem] = []
    first_by_name: dict[str, _Entry] = {}
    for position, raw in enumerate(_list_at(doc, ("stacks",))):
        where: KeyPath = ("stacks", position)
        name, path = (raw.get("name"), raw.get("path")) if isinstance(raw, dict) else (None, None)
        location_problem = _directory_problem(root, path) if isinstance(path, str) else None
        if location_problem:
            problems.append(doc.problem((*where, "path"), location_problem))
        if not isinstance(name, str) or not isinstance(path, str):
            continue
        if name in first_by_name:
            first = first_by_name[name]
            problems.append(doc.problem((*where, "name"), f"duplicate stack name {name!r} "
                                        f"(also {render_key_path(first.where)} at line "
                                        f"{doc.line(first.where)})"))
            continue
        entry = _Entry(name, _normalized(path), where, _sections_of(doc, where))
        first_by_name[name] = entry
        entries.append(entry)
    return entries, problems


def _normalized(path: str) -> str:
    return posixpath.normpath(path)


def _directory_problem(root: Path, path: str) -> str | None:
    if path.startswith(("/", "\\")):
        return None  # the schema reports absolute paths
    if "\0" in path:
        return f"path {path!r} contains a NUL character"
    # Lexically, as Git sees paths: "a/../b" needs no directory a.
    normalized = _normalized(path)
    target = root / normalized
    if normalized == ".." or normalized.startswith("../") or not _inside(root, target):
        return f"path {path!r} is outside the repository (paths are relative to {root})"
    if not target.exists():
        return (f"path {path!r} does not exist: expected a directory relative to the "
                f"repository root {root}")
    if not target.is_dir():
        return f"path {path!r} is not a directory"
    return None


def _inside(root: Path, target: Path) -> bool:
    try:
        return target.resolve().is_relative_to(root.resolve())
    except (OSError, ValueError, RuntimeError):  # NUL bytes, symlink loops
        return False


def _list_at(doc: _Document, path: KeyPath) -> list[Any]:
    value = doc.get(path)
    return value if isinstance(value, list) else []


# --------------------------------------------------------------------------- discovery


def _discovered_entries(
    doc: _Document, root: Path, declared: Sequence[_Entry]
) -> tuple[list[_Entry], list[Problem]]:
    taken_paths = {entry.path for entry in declared}
    by_name: dict[str, _Entry] = {entry.name: entry for entry in declared}
    entries: list[_Entry] = []
    problems: list[Problem] = []
    for position, rule in enumerate(_list_at(doc, ("discover",))):
        where: KeyPath = ("discover", position)
        if not isinstance(rule, dict) or not isinstance(rule.get("glob"), str):
            continue
        sections = _sections_of(doc, where)
        engine = _setting(doc, sections, "engine")
        directories, glob_problem = _glob_stack_dirs(root, rule["glob"], engine)
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
    doc: _Document,
    where: KeyPath,
    sections: tuple[KeyPath, ...],
    path: str,
    by_name: Mapping[str, _Entry],
) -> tuple[_Entry | None, Problem | None]:
    name = re.sub(r"[^a-z0-9_-]", "-", posixpath.basename(path).lower()).lstrip("-_")
    at = (*where, "glob")
    if not name:
        return None, doc.problem(at, f"cannot name a stack after directory {path!r}: "
                                     "declare it under 'stacks' with a name")
    other = by_name.get(name)
    if other is None:
        return _Entry(name, path, where, sections), None
    how = "declared" if other.where[0] == "stacks" else "discovered"
    return None, doc.problem(at, f"discovered stack {name!r} at {path} clashes with stack "
                                 f"{name!r} {how} at {render_key_path(other.where)} (line "
                                 f"{doc.line(other.where)}) for {other.path}; declare one "
                                 "of them under 'stacks' with another name")


def _glob_stack_dirs(root: Path, pattern: str, engine: Any) -> tuple[list[str], str | None]:
    """Relative paths of the directories matching pattern that hold the engine's files."""
    try:
        matches = sorted(root.glob(pattern))
    except (ValueError, NotImplementedError) as exc:
        return [], f"invalid glob {pattern!r}: {exc}"
    markers = _PULUMI_FILES if engine == "pulumi" else _TERRAFORM_FILES
    found: list[str] = []
    outside: list[str] = []
    for match in matches:
        relative = posixpath.normpath(match.relative_to(root).as_posix())
        if not match.is_dir() or any(part.startswith(".") and part not in (".", "..")
                                     for part in relative.split("/")):
            continue
        if not _inside(root, match):
            outside.append(relative)
        elif any(next(match.glob(marker), None) for marker in markers):
            found.append(relative)
    problem = f"glob matches directories outside the repository: {', '.join(outside)}"
    return found, problem if outside else None


# --------------------------------------------------------------------------- references


def _reference_problems(doc: _Document, entries: Sequence[_Entry]) -> list[Problem]:
    names = [entry.name for entry in entries]
    problems = _engine_problems(doc)
    for section in _setting_sections(doc):
        problems += _unknown_stack_problems(doc, section, names)
    for entry in entries:
        problems += _sensitive_name_problems(doc, entry)
    return problems + _cycle_problems(doc, entries)


def _setting_sections(doc: _Document) -> Iterator[KeyPath]:
    if isinstance(doc.get(("defaults",)), dict):
        yield ("defaults",)
    for key in ("stacks", "discover"):
        for position, item in enumerate(_list_at(doc, (key,))):
            if isinstance(item, dict):
                yield (key, position)


def _engine_problems(doc: _Document) -> list[Problem]:
    problems = []
    for section in _setting_sections(doc):
        engine = doc.get((*section, "engine"))
        if isinstance(engine, str) and engine not in ENGINES:
            hint = _did_you_mean(engine, ENGINES) or f" (expected one of: {', '.join(ENGINES)})"
            problems.append(doc.problem((*section, "engine"), f"unknown engine {engine!r}{hint}"))
    return problems


def _stack_references(doc: _Document, section: KeyPath) -> Iterator[tuple[KeyPath, str]]:
    """(where, stack name) for each depends_on entry and from_stack variable of a section."""
    for position, name in enumerate(_list_at(doc, (*section, "depends_on"))):
        if isinstance(name, str):
            yield (*section, "depends_on", position), name
    variables = doc.get((*section, "variables"))
    for variable, value in (variables.items() if isinstance(variables, dict) else ()):
        if _is_from_stack(value) and isinstance(value["from_stack"], str):
            yield (*section, "variables", variable, "from_stack"), value["from_stack"]


def _unknown_stack_problems(
    doc: _Document, section: KeyPath, names: Sequence[str]
) -> list[Problem]:
    known = ", ".join(names) or "(none)"
    return [
        doc.problem(where, f"unknown stack {name!r}{_did_you_mean(name, names)}; "
                           f"known stacks: {known}")
        for where, name in _stack_references(doc, section)
        if name not in names
    ]


def _sensitive_name_problems(doc: _Document, entry: _Entry) -> list[Problem]:
    own = entry.sections[-1]
    variables = list(_merged(doc, entry.sections, "variables"))
    return [
        doc.problem((*own, "sensitive_variables", position),
                    f"{name!r} is not a variable of stack {entry.name!r}"
                    f"{_did_you_mean(name, variables)}")
        for position, name in enumerate(_list_at(doc, (*own, "sensitive_variables")))
        if isinstance(name, str) and name not in variables
    ]


def _cycle_problems(doc: _Document, entries: Sequence[_Entry]) -> list[Problem]:
    names = {entry.name for entry in entries}
    edges: dict[tuple[str, str], KeyPath] = {}
    for entry in entries:
        for section in entry.sections:
            for where, name in _stack_references(doc, section):
                if name in names and _reference_applies(doc, entry, where):
                    edges.setdefault((entry.name, name), where)
    graph: dict[str, list[str]] = {entry.name: [] for entry in entries}
    for source, target in edges:
        graph[source].append(target)
    cycle = dependency_cycle(graph)
    if cycle is None:
        return []
    return [doc.problem(edges[(cycle[0], cycle[1])],
                        "dependency cycle: " + " -> ".join(cycle))]


def _reference_applies(doc: _Document, entry: _Entry, where: KeyPath) -> bool:
    """A from_stack variable in defaults is overridden by the stack's own variable."""
    if "variables" not in where:
        return True
    variable = where[where.index("variables") + 1]
    section = where[: where.index("variables")]
    winner = next(s for s in reversed(entry.sections)
                  if isinstance(doc.get((*s, "variables")), dict)
                  and variable in doc.get((*s, "variables")))
    return winner == section


# --------------------------------------------------------------------------- building


def _setting(doc: _Document, sections: Sequence[KeyPath], key: str) -> Any:
    """The value of a scalar setting: the last section that sets it wins."""
    for section in reversed(sections):
        value = doc.get((*section, key))
        if value is not None:
            return value
    return None


def _merged(doc: _Document, sections: Sequence[KeyPath], key: str) -> dict[str, Any]:
    """A map setting merged key by key across sections, later ones overriding."""
    merged: dict[str, Any] = {}
    for section in sections:
        value = doc.get((*section, key))
        if isinstance(value, dict):
            merged.update(value)
    return merged


def _is_from_env(value: Any) -> bool:
    return isinstance(value, dict) and "from_env" in value


def _is_from_stack(value: Any) -> bool:
    return isinstance(value, dict) and "from_stack" in value and "from_env" not in value


def _build_stack(doc: _Document, entry: _Entry) -> Stack:
    sections = entry.sections
    variables = _merged(doc, sections, "variables")
    from_stack = {name: (value["from_stack"], value["output"])
                  for name, value in variables.items() if _is_from_stack(value)}
    explicit = [name for section in sections
                for name in _list_at(doc, (*section, "depends_on"))]
    depends_on = tuple(dict.fromkeys([*explicit, *(stack for stack, _ in from_stack.values())]))
    return Stack(
        name=entry.name,
        path=entry.path,
        engine=_setting(doc, sections, "engine") or _DEFAULT_ENGINE,
        workspace=_setting(doc, sections, "workspace") or _DEFAULT_WORKSPACE,
        variables={name: value for name, value in variables.items()
                   if not _is_from_env(value) and not _is_from_stack(value)},
        env=_merged(doc, sections, "env"),
        depends_on=depends_on,
        policy=_policy(_merged(doc, sections, "policy")),
        backend_config=_merged(doc, sections, "backend"),
        binary=_setting(doc, sections, "binary"),
        variables_from_env={name: value["from_env"]
                            for name, value in variables.items() if _is_from_env(value)},
        variables_from_stack=from_stack,
        sensitive_variables=_sensitive(doc, sections, variables),
    )


def _policy(settings: Mapping[str, Any]) -> Policy:
    default = Policy()
    interval = settings.get("drift_interval")
    return Policy(
        drift_interval=default.drift_interval if interval is None else parse_duration(interval),
        self_heal=settings.get("self_heal", default.self_heal),
        auto_apply=settings.get("auto_apply", default.auto_apply),
        prune=settings.get("prune", default.prune),
    )


def _sensitive(
    doc: _Document, sections: Sequence[KeyPath], variables: Mapping[str, Any]
) -> frozenset[str]:
    listed = {name for section in sections
              for name in _list_at(doc, (*section, "sensitive_variables"))}
    secret_refs = {name for name, value in variables.items()
                   if (_is_from_env(value) and value.get("sensitive", True))
                   or (_is_from_stack(value) and value.get("sensitive", False))}
    # A name listed in defaults only counts for the stacks that have that variable.
    return frozenset((listed & set(variables)) | secret_refs)


def _sorted_unique(problems: Sequence[Problem]) -> list[Problem]:
    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=lambda p: (p.line is None, p.line or 0))
