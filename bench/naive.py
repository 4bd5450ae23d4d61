"""The loop a user would otherwise write: for each stack, one after another,
`terraform init && terraform plan -detailed-exitcode`.

It uses what a user of the sandbox has: the same embedded Terraform, the sandbox's CLI
config (the provider installed from its filesystem mirror, so Terraform starts the
provider itself, several times per command) and the S3 backend on the emulator. No
reattached provider, no parallelism, a fresh checkout (init from scratch).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from infra_gitops import hcl, process
from infra_gitops.engines.binaries import embedded_terraform_argv
from infra_gitops.sandbox import SandboxInfo


def naive_loop(repo: Path, names: list[str], info: SandboxInfo, work: Path) -> float:
    """Seconds for the whole loop; raises if a stack's init or plan fails."""
    terraform = list(embedded_terraform_argv())
    env = {**os.environ, **info.terraform_env()}
    env.pop("TF_REATTACH_PROVIDERS", None)
    started = time.monotonic()
    for name in names:
        stack_dir = _checkout(repo, name, info, work)
        _run(
            [*terraform, "init", "-input=false", "-no-color", "-backend-config=backend.hcl"],
            stack_dir,
            env,
            ok=(0,),
        )
        _run(
            [*terraform, "plan", "-input=false", "-no-color", "-detailed-exitcode"],
            stack_dir,
            env,
            ok=(0, 2),
        )
    return time.monotonic() - started


def _checkout(repo: Path, name: str, info: SandboxInfo, work: Path) -> Path:
    """The stack as it is in the user's checkout, set up for the sandbox."""
    stack_dir = work / name
    shutil.copytree(repo / "stacks" / name, stack_dir)
    for file_name, content in info.override_files().items():
        (stack_dir / file_name).write_text(content)
    (stack_dir / "backend.hcl").write_text(hcl.attributes(info.backend_config(f"naive-{name}")))
    return stack_dir


def _run(argv: list[str], cwd: Path, env: dict[str, str], ok: tuple[int, ...]) -> None:
    done = process.run(argv, cwd=cwd, env=env, timeout=600)
    if done.returncode not in ok:
        raise RuntimeError(
            f"{argv[3]} in {cwd.name} exited {done.returncode}: {done.stderr[-2000:]}"
        )
