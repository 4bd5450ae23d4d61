"""Reading a stack's settings across the sections that hold them.

A stack's settings are written in up to three mappings, later ones overriding: defaults,
then the stack's own entry (stacks[i] or the discover[j] rule that found it), then, for an
instance of a stack with environments, its environment (stacks[i].environments[j]).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from infra_gitops.config.document import Document, KeyPath


def setting_sections(doc: Document) -> Iterator[KeyPath]:
    """Every mapping that may hold stack settings: defaults, stacks[i] and each of its
    environments, discover[j]."""
    if isinstance(doc.get(("defaults",)), dict):
        yield ("defaults",)
    for key in ("stacks", "discover"):
        for position, item in enumerate(list_at(doc, (key,))):
            if isinstance(item, dict):
                yield (key, position)
                yield from _environment_sections(doc, (key, position, "environments"))


def _environment_sections(doc: Document, at: KeyPath) -> Iterator[KeyPath]:
    """The environments of a list, or the values of a matrix given as mappings."""
    for index, environment in enumerate(list_at(doc, at)):
        if isinstance(environment, dict):
            yield (*at, index)
    matrix = doc.get((*at, "matrix"))
    for dimension, values in matrix.items() if isinstance(matrix, dict) else ():
        for index, value in enumerate(values if isinstance(values, list) else ()):
            if isinstance(value, dict):
                yield (*at, "matrix", dimension, index)


def sections_of(doc: Document, own: KeyPath) -> tuple[KeyPath, ...]:
    return (("defaults",), own) if isinstance(doc.get(("defaults",)), dict) else (own,)


def setting(doc: Document, sections: Sequence[KeyPath], key: str) -> Any:
    """The value of a scalar setting: the last section that sets it wins."""
    for section in reversed(sections):
        value = doc.get((*section, key))
        if value is not None:
            return value
    return None


def merged(doc: Document, sections: Sequence[KeyPath], key: str) -> dict[str, Any]:
    """A map setting merged key by key across sections, later ones overriding."""
    result: dict[str, Any] = {}
    for section in sections:
        value = doc.get((*section, key))
        if isinstance(value, dict):
            result.update(value)
    return result


def list_at(doc: Document, path: KeyPath) -> list[Any]:
    value = doc.get(path)
    return value if isinstance(value, list) else []


def is_from_env(value: Any) -> bool:
    return isinstance(value, dict) and "from_env" in value


def is_from_stack(value: Any) -> bool:
    return isinstance(value, dict) and "from_stack" in value and "from_env" not in value
