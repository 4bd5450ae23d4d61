"""Stack directories on disk: declared paths and discovery globs, kept inside the repo."""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any

_TERRAFORM_FILES = ("*.tf", "*.tf.json", "*.tofu")
_PULUMI_FILES = ("Pulumi.yaml", "Pulumi.yml")


def directory_problem(root: Path, path: str) -> str | None:
    """What is wrong with path as a stack directory relative to root, if anything."""
    if path.startswith(("/", "\\")):
        return None  # the schema reports absolute paths
    target, problem = _in_repo(root, path)
    if problem:
        return problem
    if not target.exists():
        return (
            f"path {path!r} does not exist: expected a directory relative to the "
            f"repository root {root}"
        )
    if not target.is_dir():
        return f"path {path!r} is not a directory"
    return None


def file_problem(root: Path, path: str, what: str) -> str | None:
    """What is wrong with path as a file (a `what`) relative to root, if anything: it
    must exist inside the repository, through any symlinks."""
    if path.startswith(("/", "\\")):
        return None  # the schema reports absolute paths
    target, problem = _in_repo(root, path)
    if problem:
        return problem.replace("path", what, 1)
    if not target.is_file():
        return (
            f"{what} {path!r} does not exist: expected a file relative to the "
            f"repository root {root}"
        )
    return None


def _in_repo(root: Path, path: str) -> tuple[Path, str | None]:
    """root/path, and a problem when it is not inside root (lexically or by a symlink)."""
    if "\0" in path:
        return root, f"path {path!r} contains a NUL character"
    # Lexically, as Git sees paths: "a/../b" needs no directory a.
    normalized = posixpath.normpath(path)
    target = root / normalized
    if normalized == ".." or normalized.startswith("../") or not _inside(root, target):
        return target, f"path {path!r} is outside the repository (paths are relative to {root})"
    return target, None


def glob_stack_dirs(root: Path, pattern: str, engine: Any) -> tuple[list[str], str | None]:
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
        if not match.is_dir() or any(
            part.startswith(".") and part not in (".", "..") for part in relative.split("/")
        ):
            continue
        if not _inside(root, match):
            outside.append(relative)
        elif any(next(match.glob(marker), None) for marker in markers):
            found.append(relative)
    problem = f"glob matches directories outside the repository: {', '.join(outside)}"
    return found, problem if outside else None


def _inside(root: Path, target: Path) -> bool:
    try:
        return target.resolve().is_relative_to(root.resolve())
    except (OSError, ValueError, RuntimeError):  # NUL bytes, symlink loops
        return False
