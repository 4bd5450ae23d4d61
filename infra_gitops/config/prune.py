"""The top-level `prune` section of the manifest: how many stacks one commit may prune
(Argo CD's allowEmpty, plus a cap on mass deletion).

prune:
  allow_empty: false   # may a commit prune every deployed stack (an empty `stacks:`)
  max_stacks: 1        # a commit may prune at most max(max_stacks,
  max_percent: 25      #   floor(max_percent% of the deployed stacks)) stacks
"""

from __future__ import annotations

from dataclasses import dataclass

from infra_gitops.config.document import Document

__all__ = ["PruneLimits", "prune_limits"]


@dataclass(frozen=True)
class PruneLimits:
    allow_empty: bool = False
    """A commit may prune every deployed stack (the limits below then do not apply:
    emptying was asked for explicitly)."""
    max_stacks: int = 1
    max_percent: int = 25
    """Of the deployed stacks; the larger of the two limits holds."""


def prune_limits(doc: Document) -> PruneLimits:
    """The limits of a document the schema check passed (defaults where absent)."""
    section = doc.get(("prune",))
    if not isinstance(section, dict):
        return PruneLimits()
    default = PruneLimits()
    return PruneLimits(
        allow_empty=bool(section.get("allow_empty", default.allow_empty)),
        max_stacks=int(section.get("max_stacks", default.max_stacks)),
        max_percent=int(section.get("max_percent", default.max_percent)),
    )
