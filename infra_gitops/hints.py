"""Wording shared by the manifest checks and stack selection: suggestions for a misspelt name."""

from __future__ import annotations

import difflib
from collections.abc import Sequence


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def did_you_mean_or_choices(word: str, choices: Sequence[str]) -> str:
    """The closest choice, else all of them: a short list a reader can scan."""
    return did_you_mean(word, choices) or f" (expected one of: {', '.join(choices)})"


def unknown_stack(name: str, names: Sequence[str]) -> str:
    known = ", ".join(names) or "(none)"
    return f"unknown stack {name!r}{did_you_mean(name, names)}; known stacks: {known}"
