"""Stack names and the patterns that select them.

A stack with environments is deployed as instances named DEFINITION@ENVIRONMENT
(app@prod). Wherever stacks are selected by name or glob (`--stack`, sync windows,
policies, roles), a pattern selects a stack by its name or, for an instance, by its
definition's name too: `app` selects app@dev and app@prod; `*@prod` every prod instance.
"""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase

INSTANCE_SEPARATOR = "@"


def definition(name: str) -> str:
    """The name a stack is declared with: app for app@prod, else the name itself."""
    return name.split(INSTANCE_SEPARATOR, 1)[0]


def matches(pattern: str, name: str) -> bool:
    """Whether pattern (a name or an fnmatch glob, case-sensitive) selects stack name."""
    if fnmatchcase(name, pattern):
        return True
    return INSTANCE_SEPARATOR in name and fnmatchcase(definition(name), pattern)


def selected_by(patterns: Iterable[str], name: str) -> bool:
    return any(matches(pattern, name) for pattern in patterns)
