"""Scrub known secret values out of text, JSON-like data and log records.

Engines already redact values they know are sensitive; this is the second net for
values we know are secret (sensitive variables, credentials from the environment)
wherever they might leak: error messages, logs, artifacts.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

from infra_gitops.models import SENSITIVE_MARKER

MIN_SECRET_LENGTH = 4
"""Shorter values are not scrubbed: replacing every "1", "on" or "dev" in a log would
shred it beyond use, and a value that short is no secret that substring replacement
could protect anyway (it appears by chance everywhere)."""


class Scrubber:
    """Replaces every occurrence of the given secrets with SENSITIVE_MARKER."""

    def __init__(self, secrets: Iterable[str], *, min_length: int = MIN_SECRET_LENGTH) -> None:
        """min_length=1 for values known to be secrets (declared sensitive by the user):
        those are scrubbed whatever their length; the default suits values found by
        chance (harvested from a document), where a short one would shred the text."""
        self._min_length = min_length
        self._secrets = frozenset(_variants(secrets, max(1, min_length)))
        # Longest first: the regex alternation takes the first alternative that matches,
        # so a secret containing another secret is replaced whole, not in pieces.
        ordered = sorted(self._secrets, key=lambda s: (-len(s), s))
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def with_secrets(self, secrets: Iterable[str]) -> Scrubber:
        """A scrubber for these secrets as well as ours."""
        return Scrubber([*self._secrets, *secrets], min_length=self._min_length)

    def scrub(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(SENSITIVE_MARKER, text)

    def scrub_json(self, obj: Any) -> Any:
        """A copy of obj with every string in it (keys included) scrubbed."""
        if isinstance(obj, str):
            return self.scrub(obj)
        if isinstance(obj, Mapping):  # a Mapping comes back as a plain dict
            return {self.scrub_json(k): self.scrub_json(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return type(obj)(self.scrub_json(v) for v in obj)
        return obj


def _variants(secrets: Iterable[str], min_length: int) -> Iterable[str]:
    for secret in secrets:
        if not isinstance(secret, str) or len(secret) < min_length:
            continue
        yield secret
        # In JSON text (a plan artifact) quotes, backslashes and newlines are escaped,
        # so the literal value would not match there.
        escaped = json.dumps(secret, ensure_ascii=False)[1:-1]
        if escaped != secret:
            yield escaped


class ScrubbingFilter(logging.Filter):
    """A logging filter that scrubs the message, its arguments and any traceback."""

    def __init__(self, scrubber: Scrubber) -> None:
        super().__init__()
        self.scrubber = scrubber

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.scrubber:
            return True
        # Formatting here (not in the handler) so no argument reaches a handler unscrubbed.
        record.msg = self.scrubber.scrub(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.scrubber.scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = self.scrubber.scrub(record.stack_info)
        return True
