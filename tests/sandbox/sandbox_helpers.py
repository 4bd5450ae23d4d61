"""Helpers for the sandbox tests: run the embedded Terraform, prepare a stack's work copy."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from infra_gitops import hcl, process
from infra_gitops.process import Completed
from infra_gitops.sandbox import SandboxInfo

REPO_ROOT = Path(__file__).resolve().parents[2]
STACKS_DIR = REPO_ROOT / "stacks"
TERRAFORM = (sys.executable, "-m", "infra_gitops.engines.embedded_terraform")

Terraform = Callable[..., Completed]


def make_runner(sandbox_env: Mapping[str, str]) -> Terraform:
    def run(cwd: Path, *args: str, extra_env: Mapping[str, str] | None = None) -> Completed:
        env = {**base_env(), **sandbox_env, "TF_IN_AUTOMATION": "1", **(extra_env or {})}
        return process.run([*TERRAFORM, *args], cwd=cwd, env=env, timeout=120)

    return run


def work_copy(stack: str, dest: Path, info: SandboxInfo, backend_key: str | None = None) -> Path:
    """A snapshot copy of stacks/<stack> wired to the sandbox, as the engine prepares it."""
    target = dest / stack
    shutil.copytree(STACKS_DIR / stack, target)
    for name, text in info.override_files().items():
        (target / name).write_text(text)
    (target / "sandbox.tfbackend").write_text(
        hcl.attributes(info.backend_config(backend_key or stack))
    )
    return target


def init(terraform: Terraform, stack_dir: Path, backend: bool = True) -> Completed:
    backend_args = ["-backend-config=sandbox.tfbackend"] if backend else []
    result = terraform(stack_dir, "init", "-input=false", "-no-color", *backend_args)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def base_env() -> dict[str, str]:
    # The user's real AWS settings must not leak into tests that talk to the emulator.
    return {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_"))}
