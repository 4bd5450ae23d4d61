"""What a Terraform / OpenTofu configuration declares, read with real parsers.

Native syntax (`.tf`, `.tofu`) is parsed with python-hcl2, JSON syntax (`.tf.json`,
`.tofu.json`) with json, and both are brought to the shape of Terraform's JSON syntax
(block type -> labels -> body) before anything is read from them. From one file:

- the `module` calls and their `source`: which local modules a stack uses, for the
  stacks a change affects (discovery) and for what `init` depends on (the engine);
- the `backend` type and whether there is a `cloud` block (where the state lives);
- a digest of what `init` depends on (init_digest): the `terraform` blocks, each module
  call's source and version, and every provider the file names.

A file that cannot be read (a syntax error, a construct python-hcl2 rejects, not UTF-8,
larger than the limit) is not guessed at: its FileConfig carries the `problem`, and each
caller decides what is safe (discovery counts the stack as affected; the engine lets
Terraform report the error). Parses are cached by content digest (bounded LRU), so a
second pass over thousands of stacks reads and hashes files but parses none.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONFIG_SUFFIXES = (".tf", ".tf.json", ".tofu", ".tofu.json")

MAX_NATIVE_BYTES = 256 * 1024
"""The largest .tf/.tofu file parsed. python-hcl2 parses ~15-30 us per byte on these
machines (a 12 KB, 500-line file: 60-90 ms; 200 KB: 6-10 s under load): past this a
file is reported unreadable rather than stall a pass over every stack."""
MAX_JSON_BYTES = 8 * 1024 * 1024
"""The largest .tf.json/.tofu.json file parsed (json is C code: 8 MiB take ~0.1 s), and
the most read of any file."""
CACHE_ENTRIES = 16_384
"""Parsed files kept (a few hundred bytes each): a repository of ~5,000 stacks."""

_LOCAL_PREFIXES = ("./", "../")
"""Terraform's rule: a module source is a local path when it begins with ./ or ../."""
_TYPED_BLOCKS = ("resource", "data", "ephemeral", "list")
"""Blocks labelled with a resource type, whose prefix names the provider."""


@dataclass(frozen=True)
class ModuleCall:
    name: str
    source: str | None
    """None when the call has no literal source (Terraform rejects it)."""

    @property
    def local_source(self) -> str | None:
        """The source when it is a local path, else None (registry, git, http ...)."""
        if self.source is not None and self.source.startswith(_LOCAL_PREFIXES):
            return self.source
        return None


@dataclass(frozen=True)
class ResourceBlock:
    """A managed `resource` block of a file, with what its lifecycle ignores."""

    type: str
    name: str
    ignore_changes: tuple[str, ...] = ()
    """The expressions of lifecycle ignore_changes, as written (tags["Owner"]), or
    ("all",)."""


@dataclass(frozen=True)
class FileConfig:
    """What one configuration file declares; when `problem` is set, nothing is known
    but the digest of its content."""

    modules: tuple[ModuleCall, ...] = ()
    backend: str | None = None
    """The type of its `backend` block (s3, gcs, local ...), if it has one."""
    cloud: bool = False
    """Whether it has a `cloud` block (HCP Terraform keeps the state)."""
    init_digest: str = ""
    """sha256 of what init depends on (see the module docstring); of the whole content
    when the file cannot be read."""
    problem: str | None = None
    """Why the file could not be read, e.g. "line 6: Unexpected token ..."."""
    resources: tuple[ResourceBlock, ...] = ()


@dataclass(frozen=True)
class ModuleDir:
    """A directory of the tree: the start or a local module it calls, transitively."""

    path: str
    """Relative to the base the tree was read from, POSIX, normalised ("." the base)."""
    files: tuple[tuple[str, FileConfig], ...] | None
    """(file name, its config) in name order; None when the directory does not exist."""


def is_config_file(name: str) -> bool:
    return name.endswith(CONFIG_SUFFIXES)


def read_file(path: Path, *, calls_only: bool = False) -> FileConfig:
    """The declarations of one configuration file (cached by content).

    calls_only=True when only its module calls matter (discovery): a native-syntax file
    without the word `module` has no module block (HCL has no way to spell a block type
    but literally), so it is not parsed, and its other fields are left empty. Most files
    of a stack are such files; parsing is ~50x the cost of reading."""
    native = not path.name.endswith(".json")
    try:
        with path.open("rb") as file:
            content = file.read(MAX_JSON_BYTES + 1)
    except OSError as exc:
        return FileConfig(problem=f"cannot read it: {exc.strerror or exc}")
    if calls_only and native and b"module" not in content:
        return _NO_CALLS
    digest = hashlib.sha256(content).hexdigest()
    limit = MAX_NATIVE_BYTES if native else MAX_JSON_BYTES
    if len(content) > limit:
        return FileConfig(
            init_digest=digest, problem=f"larger than {limit // 1024} KiB: not parsed"
        )
    key = f"{'hcl' if native else 'json'}:{digest}"
    cached = _CACHE.get(key)
    if cached is None:
        cached = _declarations(content, native, digest)
        _CACHE.put(key, cached)
    return cached


def read_module_tree(
    base: Path, start: str = ".", *, within_base: bool, calls_only: bool = False
) -> list[ModuleDir]:
    """The directory start (relative to base) and every local module it calls,
    transitively, in the order found; each read once (cycles end there).

    within_base=True leaves out modules outside base (and does not read them): a
    repository's stacks cannot use what is not in it. Unreadable files stay in the
    result (their problem set): what they call is unknown, for the caller to weigh.
    calls_only: see read_file.
    """
    found: list[ModuleDir] = []
    seen: set[str] = set()
    pending = [posixpath.normpath(start)]
    while pending:
        relative = pending.pop(0)
        directory = base / relative
        identity = os.path.realpath(directory)
        if relative in seen or identity in seen:
            continue
        seen.update((relative, identity))
        files = _read_directory(directory, calls_only)
        found.append(ModuleDir(relative, files))
        for _, config in files or ():
            for call in config.modules:
                source = call.local_source
                if source is None:
                    continue
                module = posixpath.normpath(posixpath.join(relative, source))
                if within_base and (module == ".." or module.startswith("../")):
                    continue
                pending.append(module)
    return found


def root_resources(
    directory: Path, *, skip: str | None = None
) -> dict[tuple[str, str], ResourceBlock]:
    """The `resource` blocks of directory's own files (not of the modules it calls), by
    (type, name); the first file by name that declares one wins. skip: a file left out."""
    found: dict[tuple[str, str], ResourceBlock] = {}
    for name, config in _read_directory(directory, calls_only=False) or ():
        if name == skip:
            continue
        for block in config.resources:
            found.setdefault((block.type, block.name), block)
    return found


def unreadable_files(tree: Iterable[ModuleDir]) -> list[tuple[str, str]]:
    """(path relative to the base, problem) of each file of tree that could not be read."""
    return [
        (posixpath.join(module.path, name), config.problem)
        for module in tree
        for name, config in module.files or ()
        if config.problem is not None
    ]


# --- one file --------------------------------------------------------------------------


def _read_directory(directory: Path, calls_only: bool) -> tuple[tuple[str, FileConfig], ...] | None:
    try:
        entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return tuple(
        (entry.name, read_file(Path(entry.path), calls_only=calls_only))
        for entry in entries
        if is_config_file(entry.name) and entry.is_file()
    )


def _declarations(content: bytes, native: bool, digest: str) -> FileConfig:
    try:
        text = content.decode("utf-8")
        document = _parse_native(text) if native else json.loads(text)
        if not isinstance(document, dict):
            raise ValueError("the top level is not an object")
        return _read_document(document)
    except Exception as exc:  # noqa: BLE001 - untrusted input into a third-party parser:
        # whatever it raises (lark's errors, RecursionError on deep nesting, a shape our
        # reading does not expect) means the file's declarations are unknown.
        return FileConfig(init_digest=digest, problem=_describe_problem(exc))


def _parse_native(text: str) -> dict[str, Any]:
    import hcl2  # 0.15 s to import: only for commands that read configuration
    from hcl2.utils import SerializationOptions

    options = SerializationOptions(
        with_comments=False, strip_string_quotes=True, preserve_heredocs=False
    )
    return _json_shape(hcl2.loads(text, serialization_options=options))


def _describe_problem(exc: BaseException) -> str:
    """Where and what, never the file's text: lark's messages quote the tokens they
    met, and a log must not carry what a file holds."""
    if isinstance(exc, RecursionError) or "maximum recursion depth" in str(exc):
        return "nested too deeply to read"
    if type(exc).__module__.startswith("lark"):
        line, column = getattr(exc, "line", None), getattr(exc, "column", None)
        kind = re.sub(r"(?<!^)(?=[A-Z])", " ", type(exc).__name__).lower()  # unexpected token
        if isinstance(line, int) and line > 0:
            return f"line {line}, column {column}: {kind}"
        return kind
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _json_shape(body: dict[str, Any]) -> dict[str, Any]:
    """python-hcl2's output in the shape of Terraform's JSON syntax: each block type
    maps to a list of {label: {label: body}} objects; attributes stay as they are."""
    shaped: dict[str, Any] = {}
    for key, value in body.items():
        if key.startswith("__"):
            continue
        blocks = _block_entries(value)
        if blocks is None:
            shaped[key] = value
            continue
        shaped[key] = [_nest(labels, _json_shape(inner)) for labels, inner in blocks]
    return shaped


def _block_entries(value: Any) -> list[tuple[tuple[str, ...], dict[str, Any]]] | None:
    """(labels, body) of each block when value is a list of python-hcl2 blocks (each
    ends in a dict marked __is_block__), else None: value is an attribute."""
    if not isinstance(value, list) or not value:
        return None
    found: list[tuple[tuple[str, ...], dict[str, Any]]] = []
    for entry in value:
        leaves = _block_leaves(entry, ())
        if leaves is None:
            return None
        found += leaves
    return found


def _block_leaves(
    entry: Any, labels: tuple[str, ...]
) -> list[tuple[tuple[str, ...], dict[str, Any]]] | None:
    if not isinstance(entry, dict) or not entry:
        return None
    if entry.get("__is_block__") is True:
        return [(labels, entry)]
    found: list[tuple[tuple[str, ...], dict[str, Any]]] = []
    for label, inner in entry.items():
        leaves = _block_leaves(inner, (*labels, str(label)))
        if leaves is None:
            return None
        found += leaves
    return found


def _nest(labels: tuple[str, ...], body: dict[str, Any]) -> dict[str, Any]:
    for label in reversed(labels):
        body = {label: body}
    return body


# --- reading the JSON-syntax shape -----------------------------------------------------


def _read_document(document: dict[str, Any]) -> FileConfig:
    modules = tuple(
        ModuleCall(labels[0], body.get("source") if isinstance(body.get("source"), str) else None)
        for labels, body in _blocks(document.get("module"), 1)
    )
    terraform = [body for _, body in _blocks(document.get("terraform"), 0)]
    backends = [labels[0] for block in terraform for labels, _ in _blocks(block.get("backend"), 1)]
    requirements = {
        "terraform": terraform,
        "modules": sorted(
            (labels[0], body.get("source"), body.get("version"))
            for labels, body in _blocks(document.get("module"), 1)
        ),
        "providers": sorted(_providers_named(document)),
    }
    canonical = json.dumps(requirements, sort_keys=True, default=str)
    return FileConfig(
        modules=modules,
        backend=backends[0] if backends else None,
        cloud=any("cloud" in block for block in terraform),
        init_digest=hashlib.sha256(canonical.encode()).hexdigest(),
        resources=tuple(
            ResourceBlock(labels[0], labels[1], _ignore_changes(body))
            for labels, body in _blocks(document.get("resource"), 2)
        ),
    )


def _ignore_changes(body: dict[str, Any]) -> tuple[str, ...]:
    found: list[str] = []
    for lifecycle in _blocks(body.get("lifecycle"), 0):
        value = lifecycle[1].get("ignore_changes")
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str):
                found.append(item.removeprefix("${").removesuffix("}"))
    return tuple(found)


def _providers_named(document: dict[str, Any]) -> set[str]:
    """Local names of the providers a file needs: by a resource type's prefix, a
    `provider` block, or a resource's `provider` argument (aws.west -> aws)."""
    scopes = [document] + [body for _, body in _blocks(document.get("check"), 1)]
    names: set[str] = set()
    for scope in scopes:
        for kind in _TYPED_BLOCKS:
            for labels, body in _blocks(scope.get(kind), 2):
                names.add(labels[0].split("_", 1)[0])
                reference = body.get("provider")
                if isinstance(reference, str):
                    names.add(reference.removeprefix("${").removesuffix("}").split(".")[0])
    names.update(labels[0] for labels, _ in _blocks(document.get("provider"), 1))
    return names


def _blocks(value: Any, depth: int) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    """(labels, body) of the blocks of one type in JSON syntax, where each level may be
    an object or a list of objects and "//" keys are comments."""
    for item in value if isinstance(value, list) else [value]:
        if not isinstance(item, dict):
            continue
        if depth == 0:
            yield (), item
            continue
        for label, inner in item.items():
            if label == "//":
                continue
            for labels, body in _blocks(inner, depth - 1):
                yield (label, *labels), body


# --- the cache -------------------------------------------------------------------------


class _LruCache:
    """Content key -> FileConfig, bounded, shared by threads (the daemon's passes and
    drift checks read configuration at once). A pure memo: a value depends only on its
    key, so it never goes stale."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[str, FileConfig] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> FileConfig | None:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: str, value: FileConfig) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)


_CACHE = _LruCache(CACHE_ENTRIES)
_NO_CALLS = FileConfig()
