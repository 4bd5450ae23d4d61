"""Stack values from checked entries: defaults applied, maps merged, references split out."""

from __future__ import annotations

import posixpath
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from infra_gitops.config.document import Document, KeyPath
from infra_gitops.config.entries import Entry
from infra_gitops.config.references import resolve
from infra_gitops.config.settings import is_from_env, is_from_stack, list_at, merged, setting
from infra_gitops.durations import parse_duration
from infra_gitops.models import DriftIgnore, Policy, Promotion, Stack

__all__ = ["build_stack"]

_DEFAULT_ENGINE = "terraform"
_DEFAULT_WORKSPACE = "default"


def build_stack(doc: Document, entry: Entry, names: Collection[str]) -> Stack:
    """The Stack of an entry of a document that has no problems; names: every stack's."""
    sections = entry.sections

    def stack_named(name: str) -> str:
        return resolve(name, entry, names) or name

    variables = merged(doc, sections, "variables")
    from_stack = {
        name: (stack_named(value["from_stack"]), value["output"])
        for name, value in variables.items()
        if is_from_stack(value)
    }
    explicit = [
        stack_named(name) for section in sections for name in list_at(doc, (*section, "depends_on"))
    ]
    depends_on = tuple(dict.fromkeys([*explicit, *(stack for stack, _ in from_stack.values())]))
    return Stack(
        name=entry.name,
        path=entry.path,
        engine=setting(doc, sections, "engine") or _DEFAULT_ENGINE,
        workspace=setting(doc, sections, "workspace") or _DEFAULT_WORKSPACE,
        variables={
            name: value
            for name, value in variables.items()
            if not is_from_env(value) and not is_from_stack(value)
        },
        env=merged(doc, sections, "env"),
        depends_on=depends_on,
        policy=_policy(merged(doc, sections, "policy"), _ignore_drift(doc, sections)),
        backend_config=merged(doc, sections, "backend"),
        backend_file=_relative(setting(doc, sections, "backend_file")),
        binary=setting(doc, sections, "binary"),
        variables_from_env={
            name: value["from_env"] for name, value in variables.items() if is_from_env(value)
        },
        variables_from_stack=from_stack,
        mock_outputs={
            name: value["mock"]
            for name, value in variables.items()
            if is_from_stack(value) and "mock" in value
        },
        sensitive_variables=_sensitive(doc, sections, variables),
        tags=tuple(
            dict.fromkeys(
                [
                    *(str(t) for section in sections for t in list_at(doc, (*section, "tags"))),
                    *([entry.environment] if entry.environment else []),
                ]
            )
        ),
        environment=entry.environment,
        # Only an environment's settings may hold these (the schema says where).
        revision=setting(doc, sections, "revision") if entry.environment else None,
        promotion=_promotion(doc.get((*entry.declared_at, "promotion")))
        if entry.declared_at is not None
        else Promotion(),
    )


def _promotion(settings: Any) -> Promotion:
    if not isinstance(settings, Mapping):
        return Promotion()
    soak = settings.get("soak")
    return Promotion(
        order=tuple(settings.get("order") or ()),
        soak_s=0 if soak is None else parse_duration(soak),
    )


def _relative(path: str | None) -> str | None:
    return None if path is None else posixpath.normpath(path)


def _policy(settings: Mapping[str, Any], ignore_drift: tuple[DriftIgnore, ...]) -> Policy:
    default = Policy()
    interval = settings.get("drift_interval")
    return Policy(
        drift_interval=default.drift_interval if interval is None else parse_duration(interval),
        self_heal=settings.get("self_heal", default.self_heal),
        auto_apply=settings.get("auto_apply", default.auto_apply),
        prune=settings.get("prune", default.prune),
        ignore_drift=ignore_drift,
    )


def _ignore_drift(doc: Document, sections: Sequence[KeyPath]) -> tuple[DriftIgnore, ...]:
    """Every section's rules, defaults' first: unlike other policy settings they add up,
    so that a stack's own rules do not drop the ones every stack shares."""
    rules = (
        _drift_ignore(item)
        for section in sections
        for item in list_at(doc, (*section, "policy", "ignore_drift"))
    )
    return tuple(dict.fromkeys(rules))


def _drift_ignore(item: str | Mapping[str, str]) -> DriftIgnore:
    if isinstance(item, str):
        return DriftIgnore(path=item)
    return DriftIgnore(path=item["path"], type=item.get("type"))


def _sensitive(
    doc: Document, sections: Sequence[KeyPath], variables: Mapping[str, Any]
) -> frozenset[str]:
    listed = {
        name for section in sections for name in list_at(doc, (*section, "sensitive_variables"))
    }
    secret_refs = {
        name
        for name, value in variables.items()
        if (is_from_env(value) and value.get("sensitive", True))
        or (is_from_stack(value) and value.get("sensitive", False))
    }
    # A name listed in defaults only counts for the stacks that have that variable.
    return frozenset((listed & set(variables)) | secret_refs)
