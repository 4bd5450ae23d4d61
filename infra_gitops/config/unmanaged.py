"""The top-level `unmanaged` section of the manifest: the daemon's scan interval and the
rules that keep known leftovers out of the findings.

unmanaged:
  interval: 1h                              # absent: the daemon does not scan
  ignore:
    - {type: aws_s3_bucket, name: "cdk-*"}  # name: glob on the identifier or name
    - {tag: {team: data}}                   # every tag listed must match (values: globs)
    - {type: aws_ssm_parameter}             # a whole type
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from infra_gitops.config.document import Document
from infra_gitops.durations import parse_duration
from infra_gitops.errors import Problem
from infra_gitops.hints import did_you_mean_or_choices
from infra_gitops.unmanaged.types import SCANNED_TYPES

__all__ = ["IgnoreRule", "UnmanagedSettings", "unmanaged_problems", "unmanaged_settings"]


@dataclass(frozen=True)
class IgnoreRule:
    """Matches a resource when every part it sets matches (at least one is set)."""

    index: int
    """Its position in `unmanaged.ignore` (to say which rule matched)."""
    type: str | None = None
    name: str | None = None
    """Glob on the resource's identifier or its name (either matching is enough)."""
    tag: Mapping[str, str] = field(default_factory=dict)
    """Tag -> glob on its value; every one must match."""

    def matches(
        self, type_: str, identifier: str, name: str | None, tags: Mapping[str, str]
    ) -> bool:
        if self.type is not None and self.type != type_:
            return False
        if self.name is not None and not any(
            fnmatchcase(text, self.name) for text in (identifier, name) if text
        ):
            return False
        return all(key in tags and fnmatchcase(tags[key], glob) for key, glob in self.tag.items())

    def describe(self) -> str:
        parts = [f"type={self.type}"] if self.type else []
        parts += [f"name={self.name}"] if self.name else []
        parts += [f"tag {key}={value}" for key, value in self.tag.items()]
        return f"unmanaged.ignore[{self.index}] ({', '.join(parts)})"


@dataclass(frozen=True)
class UnmanagedSettings:
    interval_s: int | None = None
    """Seconds between the daemon's scans; None: the daemon does not scan."""
    ignore: tuple[IgnoreRule, ...] = ()


def unmanaged_settings(doc: Document) -> UnmanagedSettings:
    """The section of a document the checks passed (defaults where absent)."""
    section = doc.get(("unmanaged",))
    if not isinstance(section, dict):
        return UnmanagedSettings()
    interval = section.get("interval")
    rules = section.get("ignore") or []
    return UnmanagedSettings(
        interval_s=None if interval is None else parse_duration(interval),
        ignore=tuple(
            IgnoreRule(
                index=i,
                type=rule.get("type"),
                name=rule.get("name"),
                tag={str(k): str(v) for k, v in (rule.get("tag") or {}).items()},
            )
            for i, rule in enumerate(rules)
            if isinstance(rule, dict)
        ),
    )


def unmanaged_problems(doc: Document) -> list[Problem]:
    """Ignore rules naming a type no lister scans (a typo would ignore nothing, quietly);
    the schema checks the rest (each rule sets type, name or tag)."""
    rules = doc.get(("unmanaged", "ignore"))
    problems: list[Problem] = []
    for i, rule in enumerate(rules if isinstance(rules, list) else []):
        type_ = rule.get("type") if isinstance(rule, dict) else None
        if isinstance(type_, str) and type_ not in SCANNED_TYPES:
            problems.append(
                doc.problem(
                    ("unmanaged", "ignore", i, "type"),
                    f"{type_!r} is not a type `unmanaged` lists"
                    + did_you_mean_or_choices(type_, SCANNED_TYPES),
                )
            )
    return problems
