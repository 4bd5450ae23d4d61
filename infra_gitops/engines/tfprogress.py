"""Terraform's machine-readable UI (`init`, `plan`, `apply` with `-json`), one message
per line.

Each line is a JSON message. JsonUi keeps each message's own human text (`@message`)
for the run log, so the log reads as Terraform's words and never as raw JSON; keeps the
diagnostics as data (tfdiagnostics.Diagnostic, with summary, detail, file and line), for
the engine to classify a failure from; and turns apply's resource messages
(`apply_start`, `apply_progress`, `apply_complete`, `apply_errored`) into progress lines
("aws_s3_bucket.artifacts: creating...", "... created (2s)").
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from infra_gitops.engines.base import ProgressSink
from infra_gitops.engines.tfdiagnostics import Diagnostic, from_message

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


@dataclass
class JsonUi:
    """Reads a `-json` command's stdout line by line (from the pump thread)."""

    progress: ProgressSink
    log: Callable[[str], None]
    scrub: Callable[[str], str] = str
    """Removes known secret values from progress lines (the log scrubs its own)."""
    diagnostics: list[Diagnostic] = field(default_factory=list)
    """Every diagnostic, in order (errors and warnings)."""
    other_lines: list[str] = field(default_factory=list)
    """Lines that were not messages (Terraform prints a few failures as plain text)."""
    messages: int = 0
    """How many messages were read: none at all means the command had no -json mode."""

    def feed(self, line: str) -> None:
        message = read_message(line)
        if message is None:
            if line.strip():
                self.log(line)
                self.other_lines.append(line)
            return
        self.messages += 1
        diagnostic = from_message(message)
        if diagnostic is not None:
            self.diagnostics.append(diagnostic)
            # @message holds the summary only: the log gets the detail and place too.
            self.log(diagnostic.text())
        elif message.get("@message"):
            self.log(str(message["@message"]))
        step = progress_line(message)
        if step is not None:
            self.progress(self.scrub(step))

    def other_output(self) -> str:
        return "\n".join(self.other_lines)


_HOOK_TYPES = frozenset({"apply_start", "apply_progress", "apply_complete", "apply_errored"})


def _seconds(value: Any) -> str:
    return f"{int(value)}s" if isinstance(value, int | float) else "?s"
