"""Terraform's diagnostics (its errors and warnings) as data, and what a failure means.

Every command that has a `-json` mode runs with it (init, plan, apply): its
`{"type": "diagnostic", "diagnostic": {"severity", "summary", "detail", "range"}}`
messages are read as they are (from_message). Commands without one (`workspace`,
`output`, `show`, `force-unlock`, and `init` of Terraform < 1.9 / OpenTofu < 1.7) print
Terraform's plain-text form, read by parse_text as a last resort into the same shape.

classify() turns a failed command's diagnostics into the error the product prints:
a held state lock (its ID and holder, from the lock error's detail, which Terraform
writes as `Lock Info:` fields), an endpoint that refuses connections, or each error
with its file and line in the repository.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from infra_gitops.errors import EngineError, StateLockedError


@dataclass(frozen=True)
class Diagnostic:
    severity: str
    """"error" or "warning"."""
    summary: str
    detail: str = ""
    """Terraform's explanation, its line breaks kept (the lock error's fields are lines)."""
    file: str | None = None
    """As Terraform names it: relative to the stack directory, or absolute."""
    line: int | None = None

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def text(self) -> str:
        """Terraform's own plain-text form (for the run log a person reads)."""
        lines = [f"{self.severity.capitalize()}: {self.summary}"]
        if self.file is not None:
            lines += ["", f"  on {self.file} line {self.line}:"]
        if self.detail:
            lines += ["", self.detail]
        return "\n".join(lines)


class CommandFailedError(EngineError):
    """A Terraform command failed; `diagnostics` are its errors, as read."""

    def __init__(self, message: str, diagnostics: Sequence[Diagnostic] = ()) -> None:
        super().__init__(message)
        self.diagnostics = tuple(diagnostics)


LOCK_SUMMARY = "Error acquiring the state lock"
"""Terraform's summary when another run holds the state lock (its detail: Lock Info)."""

INIT_NEEDED = (
    "Backend initialization required",
    "Backend configuration changed",
    "Module not installed",
    "Module source has changed",
    "Module version requirements have changed",
    "Inconsistent dependency lock file",
    "Required plugins are not installed",
    "Missing required provider",
)
"""Summaries (prefixes) of the errors that say a working directory needs `init`."""

_GENERIC_INIT = "Terraform encountered problems during initiali"
"""init's preamble before the configuration's own errors: says nothing of its own."""


def from_message(message: Mapping[str, Any]) -> Diagnostic | None:
    """The diagnostic of one `-json` UI message, None for any other message."""
    if message.get("type") != "diagnostic":
        return None
    body = message.get("diagnostic")
    if not isinstance(body, dict):
        return None
    where = _object(body.get("range"))
    line = _object(where.get("start")).get("line")
    return Diagnostic(
        severity=str(body.get("severity") or "error"),
        summary=str(body.get("summary") or ""),
        detail=str(body.get("detail") or ""),
        file=str(where["filename"]) if where.get("filename") else None,
        line=line if isinstance(line, int) else None,
    )


def _object(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def needs_init(diagnostics: Iterable[Diagnostic]) -> bool:
    """Whether the errors say the working directory must be initialised (again)."""
    return any(d.is_error and d.summary.startswith(INIT_NEEDED) for d in diagnostics)


# --- the plain-text form (commands without -json) --------------------------------------

_TEXT_START = re.compile(r"^(Error|Warning): (.*)$")
_TEXT_LOCATION = re.compile(r"^\s+on (.+?) line (\d+)", re.MULTILINE)
_BOX = re.compile(r"^[│╷╵] ?")


def parse_text(text: str) -> list[Diagnostic]:
    """The diagnostics of Terraform's `-no-color` text output, in order: `Error:` or
    `Warning:` and the summary, then paragraphs; a first paragraph holding `on FILE line
    N` is the location and its source snippet, the rest is the detail."""
    found: list[Diagnostic] = []
    current: tuple[str, str, list[str]] | None = None
    for raw in [*text.splitlines(), "Error: (end)"]:
        line = _BOX.sub("", raw.rstrip())
        start = _TEXT_START.match(line)
        if start is None:
            if current is not None:
                current[2].append(line)
            continue
        if current is not None:
            found.append(_text_diagnostic(*current))
        current = (start.group(1).lower(), start.group(2), [])
    return found


def _text_diagnostic(severity: str, summary: str, body: list[str]) -> Diagnostic:
    paragraphs = "\n".join(body).strip("\n").split("\n\n")
    location = _TEXT_LOCATION.search(paragraphs[0]) if paragraphs else None
    if location is not None:
        paragraphs = paragraphs[1:]
    return Diagnostic(
        severity=severity,
        summary=summary,
        detail="\n\n".join(paragraphs).strip("\n"),
        file=location.group(1) if location else None,
        line=int(location.group(2)) if location else None,
    )


# --- what a failure means --------------------------------------------------------------


def classify(
    *,
    where: str,
    stack: str,
    stack_path: str,
    source_dir: str,
    diagnostics: Sequence[Diagnostic],
    other_output: str,
) -> EngineError:
    """The error for a failed command: where ("stack 'app': terraform plan failed"),
    its diagnostics, and any output that was not a diagnostic (the last lines are shown
    when there are no diagnostics at all). Files are named by their path in the repo
    (stack_path), not in the copy the command ran on (source_dir)."""
    errors = _distinct(d for d in diagnostics if d.is_error)
    lock = next((d for d in errors if d.summary == LOCK_SUMMARY), None)
    if lock is not None:
        return _locked(where, stack, lock_info(lock.detail))
    endpoint = unreachable_endpoint(
        "\n".join([*(f"{d.summary}\n{d.detail}" for d in errors), other_output])
    )
    if endpoint is not None:
        return CommandFailedError(
            f"{where}: the endpoint {endpoint} is down or unreachable (connection refused); "
            "check that the cloud API / state backend (or the local emulator) is running "
            "and that the stack's endpoints point at it",
            errors,
        )
    if len(errors) > 1:
        errors = [d for d in errors if not d.summary.startswith(_GENERIC_INIT)]
    if errors:
        described = "\n".join(_describe(stack_path, source_dir, d) for d in errors)
        return CommandFailedError(f"{where}:\n{described}", errors)
    tail = [ln for ln in other_output.strip().splitlines() if ln.strip()][-10:]
    return CommandFailedError(f"{where}:\n" + ("\n".join(tail) or "(no output)"))


def unlock_command(stack: str, lock_id: str | None) -> str:
    """The command that releases a stack's state lock, as a person runs it (from the
    infra repo, with the same --state-dir/--database-url as the failed command)."""
    return f"infra-gitops unlock --stack {shlex.quote(stack)} {shlex.quote(lock_id or 'LOCK_ID')}"


def _locked(where: str, stack: str, lock: Mapping[str, str]) -> StateLockedError:
    lock_id = lock.get("ID") or None
    held = [f"{k.lower()} {lock[k]}" for k in ("Who", "Operation", "Created") if lock.get(k)]
    holder = ", ".join(held)
    return StateLockedError(
        f"{where}: the state is locked by another run (lock ID {lock_id or 'unknown'}"
        f"{'; ' + holder if holder else ''}). Wait for that run to finish; if it died, "
        f"release the lock (`{unlock_command(stack, lock_id)}`) once you are sure "
        "nothing is using the state",
        lock_id=lock_id,
    )


def _distinct(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    for diagnostic in diagnostics:
        if diagnostic not in found:
            found.append(diagnostic)
    return found


def _describe(stack_path: str, source_dir: str, diagnostic: Diagnostic) -> str:
    detail = " ".join(line.strip() for line in diagnostic.detail.splitlines() if line.strip())
    text = diagnostic.summary + (f": {detail}" if detail else "")
    if diagnostic.file is None:
        return f"  {text}"
    path = diagnostic.file
    if posixpath.isabs(path) and path.startswith(source_dir.rstrip("/") + "/"):
        path = posixpath.relpath(path, source_dir)
    if not posixpath.isabs(path):
        path = posixpath.normpath(posixpath.join(stack_path, path))
    return f"  {path}:{diagnostic.line}: {text}"


_LOCK_FIELD = re.compile(r"^\s+(ID|Path|Operation|Who|Version|Created|Info):\s*(.*?)\s*$")


def lock_info(detail: str) -> dict[str, str]:
    """The fields of the `Lock Info:` block in the lock error's detail ({} if none)."""
    _, marker, rest = detail.partition("Lock Info:")
    fields: dict[str, str] = {}
    if not marker:
        return fields
    for line in rest.splitlines()[1:]:
        match = _LOCK_FIELD.match(line)
        if match is None:
            break
        fields[match.group(1)] = match.group(2)
    return fields


_URL = re.compile(r'"(https?://[^/"\s]+)')
_DIAL = re.compile(r"dial tcp ([^\s:]+:\d+|\[[^\]]+\]:\d+): connect: connection refused")


def unreachable_endpoint(text: str) -> str | None:
    """The endpoint a 'connection refused' failure was trying to reach, if that is the
    failure (the Go HTTP client's words, inside the diagnostic's detail)."""
    if "connection refused" not in text:
        return None
    refused = text[: text.index("connection refused")]
    urls = _URL.findall(refused)
    if urls:
        return str(urls[-1])
    dial = _DIAL.search(text)
    return dial.group(1) if dial else "(unknown endpoint)"
