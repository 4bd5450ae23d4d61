"""Terraform's machine-readable UI (`apply -json`), read one message per line.

`terraform apply -json` prints one JSON object per line: `apply_start`,
`apply_progress`, `apply_complete` and `apply_errored` say which resource is being
created/updated/destroyed and when it is done; `diagnostic` messages carry the errors
(summary, detail, file and line). ApplyUi turns the resource messages into progress lines
("aws_s3_bucket.artifacts: creating...", "... created (2s)"), keeps each message's own
human text (`@message`) for the run log, and renders the error diagnostics in the shape
of Terraform's plain-text output, so the one failure classifier of engines/terraform.py
reads them as it reads every other command's errors.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from infra_gitops.engines.base import ProgressSink

ACTION_WORDS: dict[str, tuple[str, str]] = {
    "create": ("creating", "created"),
    "update": ("updating", "updated"),
    "delete": ("destroying", "destroyed"),
    "read": ("reading", "read"),
    "import": ("importing", "imported"),
    "forget": ("forgetting", "forgotten"),
}
"""Terraform's hook action -> (in progress, done)."""


def read_message(line: str) -> dict[str, Any] | None:
    """One line of `-json` output as a message, or None when it is not one (Terraform
    prints plain text only for failures that happen before its UI starts)."""
    try:
        message = json.loads(line)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None


def progress_line(message: dict[str, Any]) -> str | None:
    """The progress line for a resource hook message, None for any other message."""
    kind = message.get("type")
    hook = message.get("hook")
    if kind not in _HOOK_TYPES or not isinstance(hook, dict):
        return None
    address = (hook.get("resource") or {}).get("addr")
    if not address:
        return None
    action = str(hook.get("action", ""))
    doing, done = ACTION_WORDS.get(action, ("changing", "changed"))
    elapsed = hook.get("elapsed_seconds")
    if kind == "apply_start":
        return f"{address}: {doing}..."
    if kind == "apply_progress":
        return f"{address}: still {doing} ({_seconds(elapsed)} elapsed)"
    if kind == "apply_complete":
        return f"{address}: {done} ({_seconds(elapsed)})"
    return f"{address}: {doing} failed ({_seconds(elapsed)})"


def diagnostic_text(message: dict[str, Any]) -> str | None:
    """An error diagnostic in the shape of Terraform's `-no-color` text, None for any
    other message: `Error: summary`, the indented location line, then the detail."""
    if message.get("type") != "diagnostic":
        return None
    diagnostic = message.get("diagnostic")
    if not isinstance(diagnostic, dict) or diagnostic.get("severity") != "error":
        return None
    lines = [f"Error: {diagnostic.get('summary', '')}", ""]
    where = diagnostic.get("range")
    if isinstance(where, dict) and where.get("filename"):
        line = (where.get("start") or {}).get("line")
        lines += [f"  on {where['filename']} line {line}:", ""]
    detail = str(diagnostic.get("detail") or "")
    if detail:
        lines.append(detail)
    return "\n".join(lines) + "\n"


@dataclass
class ApplyUi:
    """Reads an apply's `-json` stdout line by line (from the pump thread)."""

    progress: ProgressSink
    log: Callable[[str], None]
    scrub: Callable[[str], str] = str
    """Removes known secret values from progress lines (the log scrubs its own)."""
    errors: list[str] = field(default_factory=list)
    """Error diagnostics as text, and any stdout line that was not a message."""

    def feed(self, line: str) -> None:
        message = read_message(line)
        if message is None:
            if line.strip():
                self.log(line)
                self.errors.append(line)
            return
        text = diagnostic_text(message)
        if text is not None:
            self.errors.append(text)
            self.log(text.rstrip("\n"))
        elif message.get("@message"):
            self.log(str(message["@message"]))
        step = progress_line(message)
        if step is not None:
            self.progress(self.scrub(step))

    def failure_output(self) -> str:
        """What the failed apply said, for classify_failure."""
        return "\n".join(self.errors)


_HOOK_TYPES = frozenset({"apply_start", "apply_progress", "apply_complete", "apply_errored"})


def _seconds(value: Any) -> str:
    return f"{int(value)}s" if isinstance(value, int | float) else "?s"
