"""Structure, checked by the JSON Schema shipped as package data (also usable by editors).

jsonschema's own messages quote whole instances; these say what was expected at which key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from infra_gitops.config.document import Document, KeyPath
from infra_gitops.errors import Problem
from infra_gitops.hints import did_you_mean_or_choices

__all__ = ["load_schema", "schema_problems"]


def load_schema() -> dict[str, Any]:
    """The manifest's JSON Schema (draft 2020-12), shipped as package data."""
    text = (
        resources.files("infra_gitops")
        .joinpath("schema/gitops.schema.json")
        .read_text(encoding="utf-8")
    )
    schema: dict[str, Any] = json.loads(text)
    return schema


def schema_problems(doc: Document) -> list[Problem]:
    validator = Draft202012Validator(load_schema())
    problems: list[Problem] = []
    for error in validator.iter_errors(doc.data):
        problems += _problems_of(error, doc)
    return problems


def _problems_of(error: ValidationError, doc: Document) -> list[Problem]:
    path: KeyPath = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = list(schema.get("properties", {}))
        return [
            doc.problem((*path, key), _unknown_key(key, known))
            for key in error.instance
            if key not in known
        ]
    if error.validator == "required" and isinstance(error.instance, dict):
        return [
            doc.problem(path, f"missing required key {key!r}")
            for key in error.validator_value
            if key not in error.instance
        ]
    if "propertyNames" in error.schema_path:
        hint = schema.get("patternErrorMessage", error.message)
        return [doc.problem((*path, error.instance), f"invalid name {error.instance!r}: {hint}")]
    if error.validator in ("anyOf", "oneOf"):
        return _alternatives_problems(error, doc, path, schema)
    return [doc.problem(path, _expected(error, schema))]


def _alternatives_problems(
    error: ValidationError, doc: Document, path: KeyPath, schema: Mapping[str, Any]
) -> list[Problem]:
    if error.context and all(sub.validator == "required" for sub in error.context):
        keys = " or ".join(repr(key) for sub in error.context for key in sub.validator_value)
        return [doc.problem(path, f"missing required key: {keys}")]
    if "errorMessage" in schema or not error.context:
        return [doc.problem(path, _expected(error, schema))]
    closest = best_match(error.context)
    return _problems_of(closest, doc) if closest is not None else []


def _expected(error: ValidationError, schema: Mapping[str, Any]) -> str:
    if error.validator == "pattern" and "patternErrorMessage" in schema:
        expected = str(schema["patternErrorMessage"])
    elif error.validator == "uniqueItems":
        return "duplicate entries: each may appear once"
    elif "errorMessage" in schema:
        expected = str(schema["errorMessage"])
    else:
        return str(error.message)
    return f"{expected}, got {_show(error.instance)}"


def _show(value: Any) -> str:
    if value == {}:
        return "an empty mapping"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    return str(value)


def _unknown_key(key: Any, known: list[str]) -> str:
    return f"unknown key {str(key)!r}{did_you_mean_or_choices(str(key), known)}"
