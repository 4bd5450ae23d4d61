"""What a stack's code was when it was planned: a digest of everything that shapes its plan.

The stack's directory, the local modules it calls (transitively) and its manifest entry
(variables, backend, engine ...). apply --from-plan compares it with the code about to
be applied: a different digest means the stack moved since it was reviewed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

from infra_gitops import discovery
from infra_gitops.models import Stack

# Working files an engine writes into a snapshot; they are not the stack's code.
_IGNORED_DIRS = frozenset({".terraform", ".git"})
_IGNORED_PREFIXES = ("zz_infra_gitops_", "infra_gitops_")


def stack_fingerprint(root: Path, stack: Stack) -> str:
    """sha256 hex of the stack's files, its local modules' files and its manifest entry."""
    digest = hashlib.sha256()
    digest.update(b"entry\0" + _entry_json(stack).encode() + b"\0")
    directories = {stack.path}
    if stack.engine != "pulumi":
        directories |= discovery.local_module_dirs(root, stack.path)
    for directory in sorted(directories):
        for file in _files(root / directory):
            rel = file.relative_to(root).as_posix()
            digest.update(b"file\0" + rel.encode() + b"\0")
            digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()


def _entry_json(stack: Stack) -> str:
    return json.dumps(_plain(dataclasses.asdict(stack)), sort_keys=True, default=str)


def _plain(value: Any) -> Any:
    if isinstance(value, frozenset | set):
        return sorted(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    found = []
    for path in sorted(directory.rglob("*")):
        parts = path.relative_to(directory).parts
        if any(part in _IGNORED_DIRS for part in parts) or path.name.startswith(_IGNORED_PREFIXES):
            continue
        if path.is_file() and not path.is_symlink():
            found.append(path)
    return found
