"""Pulumi property values -> what records may keep: secrets masked, unknowns None.

Pulumi serializes property maps (resource inputs/outputs in engine events, in
`preview --json`, in state) with a few special shapes:

- a secret is an object `{"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
  "ciphertext"|"plaintext": ...}`; in `preview --json` and wherever the CLI masks it
  for display, the string "[secret]";
- a value not known until apply is the string "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
- keys starting with "__" are engine bookkeeping (`__defaults`, the bridge's `__meta`).

Property paths in detailedDiff use Pulumi's syntax (`tags.env`, `rules[0].port`,
`tags["a.b"]`); the model wants dotted paths like Terraform's (tags.env, rules.0.port).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from infra_gitops.models import SENSITIVE_MARKER
from infra_gitops.redaction import Scrubber

SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
MASKED = "[secret]"
"""How the CLI prints a secret it will not show (preview --json, blinded config)."""


def is_secret(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get(SECRET_SIG_KEY) == SECRET_SIG


def clean(value: Any, scrubber: Scrubber, found: set[str] | None = None) -> Any:
    """A copy of a property value safe to record.

    Secrets become SENSITIVE_MARKER (their plaintext, when the event carried it, is
    added to `found` so callers can scrub it elsewhere), unknowns become None,
    bookkeeping keys go, and every remaining string is scrubbed of known secrets.
    """
    if is_secret(value):
        if found is not None:
            found.update(_strings_in(value.get("plaintext")))
        return SENSITIVE_MARKER
    if isinstance(value, str):
        if value == MASKED:
            return SENSITIVE_MARKER
        return None if value == UNKNOWN else scrubber.scrub(value)
    if isinstance(value, Mapping):
        return {
            scrubber.scrub(str(k)): clean(v, scrubber, found)
            for k, v in value.items()
            if not str(k).startswith("__")
        }
    if isinstance(value, list | tuple):
        return [clean(v, scrubber, found) for v in value]
    return value


def clean_map(value: Mapping[str, Any] | None, scrubber: Scrubber) -> dict[str, Any] | None:
    if value is None:
        return None
    cleaned: dict[str, Any] = clean(dict(value), scrubber)
    return cleaned


def _strings_in(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        # The plaintext of a secret is the JSON text of its value.
        try:
            decoded = json.loads(value)
        except ValueError:
            decoded = value
        yield value
        if isinstance(decoded, str) and decoded != value:
            yield decoded
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings_in(item)


# --- property paths -------------------------------------------------------------------

_PATH_TOKEN = re.compile(
    r"""
    (?P<name>[^.\[\]"]+)           # a plain key
    | \[(?P<index>\d+|\*)\]        # [0] or the [*] wildcard
    | \["(?P<quoted>(?:[^"\\]|\\.)*)"\]  # ["key.with.dots"]
    | (?P<dot>\.)
    """,
    re.VERBOSE,
)


def dotted_path(pulumi_path: str) -> str:
    """`rules[0].port` -> `rules.0.port`; `tags["a.b"]` -> `tags.a.b`.

    Anything that does not parse is returned as it is: a path a person can still read
    beats a dropped one.
    """
    parts: list[str] = []
    position = 0
    while position < len(pulumi_path):
        match = _PATH_TOKEN.match(pulumi_path, position)
        if match is None:
            return pulumi_path
        position = match.end()
        if match.group("dot"):
            continue
        if match.group("quoted") is not None:
            parts.append(json.loads(f'"{match.group("quoted")}"'))
        else:
            parts.append(match.group("name") or match.group("index"))
    return ".".join(parts)


def diff_paths(before: Any, after: Any, path: str = "") -> tuple[str, ...]:
    """Dotted paths of the leaves that differ between two cleaned values (used for a
    refresh, whose events carry old and new state but, before Pulumi computed refresh
    diffs, no detailedDiff)."""
    found: list[str] = []
    _diff(before, after, path, found)
    return tuple(found)


def _diff(before: Any, after: Any, path: str, found: list[str]) -> None:
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        for key in sorted(set(before) | set(after)):
            _diff(before.get(key), after.get(key), _join(path, str(key)), found)
        return
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        for i, (b, a) in enumerate(zip(before, after, strict=True)):
            _diff(b, a, _join(path, str(i)), found)
        return
    if before != after:
        found.append(path)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def config_text(value: Any) -> str:
    """A manifest variable as a Pulumi config value: config values are strings, and the
    program reads structured ones with get_object / get_int / get_bool (JSON)."""
    return value if isinstance(value, str) else json.dumps(value)
