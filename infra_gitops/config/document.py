"""The parsed manifest with the line of every key, so problems can say where they are."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from infra_gitops.errors import Problem

KeyPath = tuple[str | int, ...]


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


@dataclass(frozen=True)
class Document:
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
