"""Plans kept for the length of one `ci plan`: copies of each saved plan and its JSON.

The run records delete a saved plan file once its run ends (it holds secrets); `ci plan`
copies it first, so it can be stored for `apply --from-plan` after the checks.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

from infra_gitops.models import Plan, Stack


@dataclass(frozen=True)
class KeptPlan:
    stack: str
    plan_file: Path | None
    plan_json: Path | None
    """Terraform's JSON plan, redacted (what conftest checks)."""
    plan_hash: str
    """sha256 of the saved plan file."""


class PlanKeeper:
    """Copies plans into an owner-only directory the caller removes; thread-safe."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.directory = directory
        self._kept: dict[str, KeptPlan] = {}
        self._lock = threading.Lock()

    def keep(self, stack: Stack, plan: Plan) -> None:
        plan_file = self._copy(plan.plan_file, f"{stack.name}.tfplan")
        plan_json = self._copy(plan.artifact, f"{stack.name}.plan.json")
        digest = hashlib.sha256(plan_file.read_bytes()).hexdigest() if plan_file else ""
        with self._lock:
            self._kept[stack.name] = KeptPlan(stack.name, plan_file, plan_json, digest)

    def get(self, stack: str) -> KeptPlan | None:
        with self._lock:
            return self._kept.get(stack)

    def _copy(self, source: Path | None, name: str) -> Path | None:
        if source is None or not source.is_file():
            return None
        target = self.directory / name
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out, source.open("rb") as src:
            shutil.copyfileobj(src, out)
        return target
