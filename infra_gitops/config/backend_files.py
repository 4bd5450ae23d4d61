"""The `backend_file` setting: a Terraform .tfbackend file in the repo, given to init.

Checked where it is written (defaults, a stack, a discover rule): the file must exist
inside the repository, through any symlinks, since the engine reads it from the
commit's snapshot; Terraform itself parses it at init.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from infra_gitops.config.directories import file_problem
from infra_gitops.config.document import Document
from infra_gitops.config.entries import Entry
from infra_gitops.config.settings import setting, setting_sections
from infra_gitops.errors import Problem
from infra_gitops.statekeys import TERRAFORM_ENGINES

KEY = "backend_file"


def backend_file_problems(doc: Document, root: Path, entries: Sequence[Entry]) -> list[Problem]:
    problems = []
    for section in setting_sections(doc):
        value = doc.get((*section, KEY))
        problem = file_problem(root, value, KEY) if isinstance(value, str) else None
        if problem:
            problems.append(doc.problem((*section, KEY), problem))
    for entry in entries:
        own = entry.sections[-1]
        engine = setting(doc, entry.sections, "engine") or "terraform"
        if doc.get((*own, KEY)) is not None and engine not in TERRAFORM_ENGINES:
            problems.append(
                doc.problem(
                    (*own, KEY),
                    f"stack {entry.name!r}: {KEY} is for Terraform and OpenTofu stacks; "
                    f"a {engine} stack takes its backend from backend: {{url: ...}}",
                )
            )
    return problems
