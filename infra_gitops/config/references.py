"""What a stack's references (depends_on, from_stack) name, with environments.

In an instance of a stack with environments (app@prod), a reference to another stack
with the same environment means that environment's instance: storage -> storage@prod.
An instance may also be named outright (storage@prod), and a stack without environments
is named as it is.
"""

from __future__ import annotations

from collections.abc import Collection

from infra_gitops.config.entries import Entry


def resolve(name: str, entry: Entry, names: Collection[str]) -> str | None:
    """The stack name refers to from entry; None when it names none."""
    if name in names:
        return name
    if entry.environment is not None and f"{name}@{entry.environment}" in names:
        return f"{name}@{entry.environment}"
    return None


def unresolved(name: str, entry: Entry, names: Collection[str]) -> str:
    """Why name, a stack with environments, names no stack from entry."""
    instances = sorted(n for n in names if n.startswith(f"{name}@"))
    shown = ", ".join(instances)
    if entry.environment is None:
        return (
            f"stack {name!r} is deployed to environments ({shown}): name one of its "
            f"instances, e.g. {instances[0]}"
        )
    return (
        f"stack {name!r} has no environment {entry.environment!r} (its instances: {shown}): "
        "name one of them"
    )
