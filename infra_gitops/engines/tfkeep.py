"""Keeping expected drift through a Terraform plan: an override file of lifecycle blocks.

A plan made with StackWorkspace.keep_live leaves those attribute paths as they are live:
each root-module resource named there gets `lifecycle { ignore_changes = [...] }` in an
override file, with the paths added to the ones its own lifecycle already ignores (an
override replaces the argument, so they are repeated). Resources in child modules, or no
longer in the configuration, cannot be overridden from the root: they are left out, and
the runner sees the plan still changes them (expected_drift.undone).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from infra_gitops import hcl
from infra_gitops.engines.tfconfig import root_resources

KEEP_LIVE_OVERRIDE = "zz_infra_gitops_keep_live_override.tf"

_ADDRESS = re.compile(r"^(?P<type>[A-Za-z0-9_-]+)\.(?P<name>[A-Za-z0-9_-]+)(\[[^\]]*\])?$")
_INDEX = re.compile(r"^[0-9]+$")


def keep_live_override(source_dir: Path, keep: Mapping[str, Iterable[str]]) -> str | None:
    """The override file's content for keep (address -> dotted paths); None when no
    resource of it can be overridden."""
    blocks = root_resources(source_dir, skip=KEEP_LIVE_OVERRIDE)
    wanted: dict[tuple[str, str], list[str]] = {}
    for address, paths in keep.items():
        match = _ADDRESS.match(address)  # module.x.aws_... and data.... do not match
        if match is None:
            continue
        key = (match["type"], match["name"])
        if key in blocks:
            wanted.setdefault(key, []).extend(traversal(path) for path in paths)
    parts = []
    for (kind, name), expressions in sorted(wanted.items()):
        own = blocks[(kind, name)].ignore_changes
        if "all" in own:
            continue  # it ignores every change already
        merged = list(dict.fromkeys([*own, *expressions]))
        parts.append(
            f"resource {hcl.string(kind)} {hcl.string(name)} {{\n"
            f"  lifecycle {{\n    ignore_changes = [{', '.join(merged)}]\n  }}\n}}\n"
        )
    if not parts:
        return None
    return "# Written by infra-gitops for one plan: expected drift kept live.\n" + "\n".join(parts)


def traversal(path: str) -> str:
    """A dotted path as a Terraform traversal: tags.CostCenter -> tags["CostCenter"],
    rule.0.port -> rule[0].port. After the attribute name, a key is a map key (index
    syntax) unless it follows a list index, where it names an attribute of the object."""
    segments = path.split(".")
    text = segments[0]
    after_index = False
    for segment in segments[1:]:
        if _INDEX.match(segment):
            text += f"[{segment}]"
            after_index = True
        elif after_index and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", segment):
            text += f".{segment}"
            after_index = False
        else:
            text += f"[{hcl.string(segment)}]"
            after_index = False
    return text
