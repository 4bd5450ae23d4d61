"""Reading a secret from a file (a token, a client secret): the way every flag and
config key that names one does, with the same messages."""

from __future__ import annotations

from pathlib import Path

from infra_gitops.errors import GitOpsError


def read_secret(path: Path, what: str, error: type[GitOpsError]) -> str:
    """The file's content without surrounding whitespace; error naming what (the flag
    or key) and the file when it cannot be read or is empty. Never the content."""
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise error(f"{what} {path}: cannot read it: {exc.strerror}") from None
    if not secret:
        raise error(f"{what} {path}: the file is empty")
    return secret
