"""Reading the manifest's YAML: the data, the line of every key, duplicate keys.

PyYAML's constructed data has no lines, so the composed nodes are walked first to index
every key path, and to find what the data would silently lose (a duplicate key keeps the
last value) or JSON cannot hold (non-string keys, recursive aliases).

The manifest comes from any commit pushed to the repo, so reading it is bounded: its
size, its nesting depth and how far its aliases expand are checked while it is read,
before anything walks the data (a "billion laughs" document of a few hundred bytes
expands to 10^9 nodes).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

try:
    from yaml._yaml import CParser
except ImportError:  # PyYAML built without libyaml: USE_LIBYAML is False, _CLoader unused
    CParser = yaml.parser.Parser  # type: ignore[misc,assignment]

from infra_gitops.config.document import Document, KeyPath, render_key_path
from infra_gitops.errors import Problem

__all__ = ["MAX_ALIAS_NODES", "MAX_DEPTH", "MAX_MANIFEST_BYTES", "read_document"]

MAX_MANIFEST_BYTES = 1024 * 1024
"""A manifest with hundreds of stacks is tens of KiB; past this it is not a manifest."""

MAX_DEPTH = 64
"""Nesting of mappings and sequences: a manifest needs about 8 levels (variables
holding structured values a few more)."""

MAX_ALIAS_NODES = 10_000
"""Nodes that aliases may add by repeating anchored values: shared policies or variables
across many stacks stay far below it; an alias bomb passes it within a few lines."""


_TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels: refused"
_LIBYAML_TOO_DEEP = "exceeded maximum nesting depth"


class _LimitExceeded(yaml.YAMLError):
    """The document passes one of the limits above: refused before it is walked."""

    def __init__(self, mark: yaml.Mark | Any, message: str) -> None:
        super().__init__(message)
        self.line: int | None = None if mark is None else int(mark.line) + 1
        """1-based, where the event that passed the limit starts."""
        self.message = message


class _BoundedComposer(yaml.composer.Composer):
    """Composes nodes, refusing documents nested too deep or whose aliases expand too far.

    Each composed node's expanded size (itself plus everything under it, aliases
    repeated) is known once it is complete; every alias adds its anchor's expanded size
    to a running total, so an alias bomb is refused at the first alias that passes the
    limit, never expanded.
    """

    # From the parser it is mixed with (libyaml's or PyYAML's), as in yaml.SafeLoader.
    check_event: Callable[..., bool]
    peek_event: Callable[[], yaml.Event]

    def __init__(self) -> None:
        super().__init__()
        self._depth = 0
        self._alias_nodes = 0
        self._sizes: dict[int, int] = {}
        """id(node) -> expanded size, for complete nodes (all live as long as the loader)."""

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            node = super().compose_node(parent, index)
            # An alias to a node still being composed is recursive: reported by the walk.
            self._alias_nodes += self._sizes.get(id(node), 1)
            if self._alias_nodes > MAX_ALIAS_NODES:
                message = f"aliases expand past {MAX_ALIAS_NODES} nodes: refused"
                raise _LimitExceeded(mark, message)
            return node
        if self._depth >= MAX_DEPTH:
            raise _LimitExceeded(self.peek_event().start_mark, _TOO_DEEP)
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        self._sizes[id(node)] = 1 + sum(self._sizes.get(id(child), 1) for child in _children(node))
        return node


def _children(node: yaml.Node | None) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


class _Resolver(yaml.resolver.Resolver):
    """Keeps dates as strings: variables are passed on as JSON."""


_Resolver.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.resolver.Resolver.yaml_implicit_resolvers.items()
}


class _CLoader(_BoundedComposer, CParser, yaml.constructor.SafeConstructor, _Resolver):
    """libyaml reads the text into events (5x faster than PyYAML's scanner here: a
    1 MiB manifest in seconds, not tens of seconds); composing stays ours, bounded."""

    def __init__(self, stream: str) -> None:
        CParser.__init__(self, stream)
        _BoundedComposer.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)
        _Resolver.__init__(self)


class _PyLoader(
    yaml.reader.Reader,
    yaml.scanner.Scanner,
    yaml.parser.Parser,
    _BoundedComposer,
    yaml.constructor.SafeConstructor,
    _Resolver,
):
    """PyYAML alone, where it was built without libyaml."""

    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        _BoundedComposer.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)
        _Resolver.__init__(self)

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:  # noqa: N803 (PyYAML's)
        # Flow nesting is refused as each `[` or `{` is scanned: PyYAML's scanner looks
        # up to 1024 characters ahead for keys, a quarter of a second on `[[[[...`
        # before the composer would see the 65th level.
        if self.flow_level >= MAX_DEPTH:
            raise _LimitExceeded(self.get_mark(), _TOO_DEEP)
        super().fetch_flow_collection_start(TokenClass)


_Loader = _CLoader | _PyLoader

USE_LIBYAML = yaml.__with_libyaml__


def read_document(root: Path, file: str) -> tuple[Document | None, list[Problem]]:
    """The document at root/file, or None when it cannot be checked further; and what is
    wrong. Problems name the file as given (relative to root)."""
    path = root / file
    try:
        with open(path, "rb") as stream:
            # Read one byte past the limit: the size on disk is no proof (a FIFO, /dev/zero).
            raw = stream.read(MAX_MANIFEST_BYTES + 1)
        if len(raw) > MAX_MANIFEST_BYTES:
            message = f"larger than {MAX_MANIFEST_BYTES // 1024} KiB: refused"
            return None, [Problem(file, None, "", message)]
        text = raw.decode("utf-8")
    except FileNotFoundError:
        message = f"manifest not found: expected {path}"
        return None, [Problem(file, None, "", message)]
    except IsADirectoryError:
        return None, [Problem(file, None, "", f"{path} is a directory, not a file")]
    except UnicodeDecodeError as exc:
        message = f"not UTF-8 text (byte {exc.start}): {exc.reason}"
        return None, [Problem(file, None, "", message)]
    return _parse(text, file)


def parse_text(text: str, file: str) -> tuple[Document | None, list[Problem]]:
    """A manifest's text (e.g. one about to be written) read as read_document reads it."""
    return _parse(text, file)


def _parse(text: str, file: str) -> tuple[Document | None, list[Problem]]:
    loader: _Loader = _CLoader(text) if USE_LIBYAML else _PyLoader(text)
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
    except _LimitExceeded as exc:
        return None, [Problem(file, exc.line, "", exc.message)]
    except yaml.MarkedYAMLError as exc:
        if exc.problem == _LIBYAML_TOO_DEEP:
            # libyaml looks ahead past our limit on `[[[[...`, to its own (1000 levels).
            return None, [Problem(file, _LimitExceeded(exc.problem_mark, "").line, "", _TOO_DEEP)]
        return None, [_yaml_problem(exc, file)]
    except yaml.YAMLError as exc:
        return None, [Problem(file, None, "", f"invalid YAML: {exc}")]
    except ValueError as exc:
        # A scalar Python refuses to construct (an int of more than 4300 digits); the
        # rest of Python's message tells how to raise its limit, not the user's concern.
        reason = str(exc).split(";")[0]
        return None, [Problem(file, None, "", f"invalid YAML value: {reason}")]
    finally:
        loader.dispose()
    return Document(data=data, lines=walk.lines, file=file), walk.problems


def _yaml_problem(exc: yaml.MarkedYAMLError, file: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    message = f"invalid YAML: {exc.problem or exc.context}"
    if exc.context and exc.problem and exc.context_mark is not None:
        context = f"{exc.context} at line {exc.context_mark.line + 1}"
        # The composer words its problems as the second half of a sentence.
        message = (
            f"invalid YAML: {context}, {exc.problem}"
            if exc.problem.startswith("but ")
            else f"{message} ({context})"
        )
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
            self._report(
                self.fatal, node, path, "recursive YAML alias: a value cannot contain itself"
            )
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
                self._report(
                    self.problems,
                    key_node,
                    (*path, key),
                    f"duplicate key {key!r} (first at line {seen[key]})",
                )
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
        self,
        mapping: yaml.MappingNode,
        path: KeyPath,
        seen: Mapping[str, int],
        active: frozenset[int],
    ) -> None:
        for key_node, value_node in mapping.value:
            key = self._key(key_node, path)
            if key is not None and key not in seen and (*path, key) not in self.lines:
                self.lines[(*path, key)] = key_node.start_mark.line + 1
                self.visit(value_node, (*path, key), active)

    def _key(self, key_node: yaml.Node, path: KeyPath) -> str | None:
        key = (
            self.loader.construct_object(key_node)
            if isinstance(key_node, yaml.ScalarNode)
            else None
        )
        if isinstance(key, str):
            return key
        shown = key_node.value if isinstance(key_node, yaml.ScalarNode) else "a collection"
        self._report(self.fatal, key_node, path, f"key {shown!r} is not a string: quote it")
        return None

    def _report(self, into: list[Problem], node: yaml.Node, path: KeyPath, message: str) -> None:
        into.append(Problem(self.file, node.start_mark.line + 1, render_key_path(path), message))
