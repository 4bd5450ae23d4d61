"""The manifest (gitops.yaml at the repo root): loading, validation, Stack values.

Structure is checked by the JSON Schema shipped as package data (schema/gitops.schema.json,
also usable by editors); the package adds what a schema cannot know (the file system,
names across stacks, dependency cycles) and turns every finding into a Problem that says
where it is (file, line, key path) and what was expected.

Modules, in the order a manifest goes through them: yaml_source (text -> Document with
lines), schema_check, entries (declared and discovered stacks, with directories),
semantic_check, build (Stack values); manifest ties them together.
"""

from __future__ import annotations

from infra_gitops.config.document import KeyPath, render_key_path
from infra_gitops.config.manifest import MANIFEST_NAME, Manifest, load_manifest, validate_manifest
from infra_gitops.config.schema_check import load_schema
from infra_gitops.config.semantic_check import ENGINES
from infra_gitops.errors import ConfigError, Problem

__all__ = [
    "ENGINES",
    "MANIFEST_NAME",
    "ConfigError",
    "KeyPath",
    "Manifest",
    "Problem",
    "load_manifest",
    "load_schema",
    "render_key_path",
    "validate_manifest",
]
