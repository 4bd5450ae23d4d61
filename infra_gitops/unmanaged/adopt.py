"""Adopting unmanaged resources into a stack: `import` blocks and the configuration
Terraform generates for them (`plan -generate-config-out`, run by the engine on the
stack's snapshot), written into the stack's directory of the person's checkout. Nothing
is applied: the next apply of that commit imports them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from infra_gitops import git, hcl
from infra_gitops.engines import tfconfig
from infra_gitops.engines.base import Engine, StackWorkspace
from infra_gitops.engines.terraform import TerraformEngine
from infra_gitops.errors import GitOpsError
from infra_gitops.models import Stack
from infra_gitops.stackrun import StackRunner
from infra_gitops.unmanaged.scan import Finding

IMPORTS_FILE = "imports_unmanaged.tf"
GENERATED_FILE = "generated_unmanaged.tf"


def _header(stack: str, what: str) -> str:
    return (
        f"# Written by `infra-gitops unmanaged --adopt-into {stack}`: {what}.\n"
        "# Review it, commit it and open a pull request: the next apply imports these\n"
        "# resources into the stack's state (an import, not a create).\n\n"
    )


@dataclass(frozen=True)
class Adopted:
    files: tuple[Path, ...]
    addresses: tuple[tuple[str, Finding], ...]
    """(the resource address it is imported to, the finding)."""
    to_fill: tuple[str, ...] = ()
    """Attributes (ADDRESS.ATTRIBUTE) Terraform left null because they are sensitive
    (`value = null # sensitive`): to fill in before the import is applied."""


def check_target(runner: StackRunner, stack: Stack, checkout: Path) -> list[Path]:
    """The files adopting into stack would write, in the checkout; raises GitOpsError when
    it cannot: a Pulumi stack, a bare repository, either file existing or changed."""
    if not isinstance(runner.engine_for(stack), TerraformEngine):
        raise GitOpsError(
            f"stack {stack.name!r} uses engine {stack.engine!r}: resources can be adopted "
            "into Terraform/OpenTofu stacks only (Pulumi: `pulumi import`)"
        )
    if stack.environment is not None:
        raise GitOpsError(
            f"stack {stack.name!r} is the {stack.environment!r} environment of "
            f"{stack.definition!r}, whose directory every environment shares: an import "
            "block there would import the resources into each environment's state. Adopt "
            "into a stack without environments, or write the import blocks by hand"
        )
    root = git.checkout_root(checkout)
    targets = [root / stack.path / IMPORTS_FILE, root / stack.path / GENERATED_FILE]
    _refuse_taken(root, targets)
    return targets


def adopt(
    runner: StackRunner, stack: Stack, findings: Sequence[Finding], checkout: Path
) -> Adopted:
    """Write IMPORTS_FILE and GENERATED_FILE for findings into stack's directory of the
    checkout (check_target's refusals; and nothing to adopt). Nothing is written unless
    Terraform generated the configuration."""
    targets = check_target(runner, stack, checkout)
    if not findings:
        raise GitOpsError("nothing to adopt: no unmanaged resource is selected")
    addresses = import_addresses(findings, set(tfconfig.root_resources(targets[0].parent)))
    imports = "".join(
        f"import {{\n  to = {address}\n  id = {hcl.string(f.identifier)}\n}}\n\n"
        for address, f in addresses
    )

    def generate(engine: Engine, ws: StackWorkspace) -> str:
        assert isinstance(engine, TerraformEngine)
        return engine.generate_config(ws, IMPORTS_FILE, imports)

    generated = runner.with_engine(stack, "adopt", generate)
    check_target(runner, stack, checkout)  # nobody wrote them meanwhile
    targets[0].write_text(
        _header(stack.name, "what to import") + imports.rstrip() + "\n", encoding="utf-8"
    )
    targets[1].write_text(
        _header(stack.name, "their configuration, as Terraform generated it") + generated,
        encoding="utf-8",
    )
    return Adopted(tuple(targets), tuple(addresses), sensitive_nulls(generated))


_RESOURCE = re.compile(r'^resource\s+"([^"]+)"\s+"([^"]+)"')
_SENSITIVE_NULL = re.compile(r"^\s+([A-Za-z0-9_]+)\s*=\s*null\s*#\s*sensitive\s*$")


def sensitive_nulls(generated: str) -> tuple[str, ...]:
    """ADDRESS.ATTRIBUTE of each `ATTRIBUTE = null # sensitive` Terraform generated."""
    found: list[str] = []
    address = ""
    for line in generated.splitlines():
        if resource := _RESOURCE.match(line):
            address = f"{resource[1]}.{resource[2]}"
        elif (null := _SENSITIVE_NULL.match(line)) and address:
            found.append(f"{address}.{null[1]}")
    return tuple(found)


def _refuse_taken(root: Path, targets: Sequence[Path]) -> None:
    existing = [t for t in targets if t.exists() or t.is_symlink()]
    changed = git.changed_in_worktree(root, [str(t.relative_to(root)) for t in targets])
    if existing or changed:
        named = ", ".join(sorted({str(t) for t in existing} | {str(root / c) for c in changed}))
        raise GitOpsError(
            f"refusing to write {named}: it exists or has uncommitted changes. Nothing was "
            "written; merge or remove it first"
        )


def import_addresses(
    findings: Sequence[Finding], taken: set[tuple[str, str]]
) -> list[tuple[str, Finding]]:
    """A valid, unique Terraform name for each finding, from its name."""
    out = []
    used = set(taken)
    for finding in findings:
        base = re.sub(r"[^a-z0-9_]+", "_", finding.name.lower()).strip("_") or "resource"
        if not re.match(r"[a-z_]", base):
            base = f"r_{base}"
        name, n = base, 1
        while (finding.type, name) in used:
            n += 1
            name = f"{base}_{n}"
        used.add((finding.type, name))
        out.append((f"{finding.type}.{name}", finding))
    return out
