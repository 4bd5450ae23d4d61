"""What a user would run instead of the daemon, on the same stacks, in the same run:

- the serial shell loop: `for d in stacks/*; do terraform init && terraform plan
  -detailed-exitcode; done`;
- the parallel shell loop: the same per-stack commands through `xargs -P P`;
- the engine-only floor: the commands the daemon's engine runs for a new stack (init,
  plan -out, show -json), P at a time, with the daemon's provider setup (one reattached
  provider process for all commands, a shared plugin cache), and nothing around them.

Both shell loops use what a user of the sandbox has: the same embedded Terraform (as a
`terraform` on PATH), the sandbox's CLI config (the provider installed from its
filesystem mirror, so Terraform starts the provider itself, several times per command)
and the S3 backend on the emulator. Each variant gets its own checkout and its own state
keys, prepared before the clock starts (a user's checkout exists already).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from infra_gitops import hcl, process
from infra_gitops.engines.binaries import embedded_terraform_argv
from infra_gitops.sandbox import SandboxInfo

# One stack of a shell loop: exit 0 (no changes) and 2 (changes) of plan are success.
_ONE_STACK = """#!/bin/sh
cd "$1" || exit 1
terraform init -input=false -no-color -backend-config=backend.hcl > init.log 2>&1 || exit 1
terraform plan -input=false -no-color -detailed-exitcode > plan.log 2>&1
test $? -ne 1
"""
_SERIAL = 'for d in stacks/*; do ./one-stack.sh "$d" || exit 1; done'
_PARALLEL = "ls -d stacks/* | xargs -P {p} -n 1 ./one-stack.sh"


def serial_loop(repo: Path, names: list[str], info: SandboxInfo, work: Path) -> float:
    """Seconds of the serial shell loop; raises if a stack's init or plan fails."""
    return _shell_loop(_SERIAL, repo, names, info, work)


def parallel_loop(
    repo: Path, names: list[str], info: SandboxInfo, work: Path, parallelism: int
) -> float:
    """Seconds of the `xargs -P` shell loop; raises if a stack's init or plan fails."""
    return _shell_loop(_PARALLEL.format(p=parallelism), repo, names, info, work)


def engine_floor(
    repo: Path, names: list[str], info: SandboxInfo, work: Path, parallelism: int
) -> float:
    """Seconds of the engine's commands alone (including the start of the one provider
    process they share, as the daemon's pass includes it)."""
    dirs = [_checkout(repo, name, info, work, f"floor-{name}") for name in names]
    terraform = list(embedded_terraform_argv())
    cache = work / "plugin-cache"
    cache.mkdir()
    started = time.monotonic()
    with info.reattached_env(log_file=work / "provider.log") as sandbox_env:
        env = {**_clean_environ(), **sandbox_env, "TF_IN_AUTOMATION": "1", "TF_INPUT": "0"}
        env["TF_PLUGIN_CACHE_DIR"] = str(cache)

        def one_stack(stack_dir: Path) -> None:
            stack_env = {**env, "TF_DATA_DIR": str(stack_dir / ".terraform")}
            plan = ["plan", "-input=false", "-no-color", "-lock-timeout=60s"]
            for args, ok in (
                (["init", "-input=false", "-no-color", "-backend-config=backend.hcl"], (0,)),
                ([*plan, "-detailed-exitcode", "-out=bench.tfplan"], (0, 2)),
                (["show", "-json", "-no-color", "bench.tfplan"], (0,)),
            ):
                done = process.run([*terraform, *args], cwd=stack_dir, env=stack_env, timeout=600)
                if done.returncode not in ok:
                    raise RuntimeError(
                        f"floor: {args[0]} in {stack_dir.name} exited {done.returncode}: "
                        f"{done.stderr[-2000:]}"
                    )

        with ThreadPoolExecutor(max_workers=parallelism) as pool:
            list(pool.map(one_stack, dirs))
        return time.monotonic() - started


def _shell_loop(script: str, repo: Path, names: list[str], info: SandboxInfo, work: Path) -> float:
    prefix = work.name
    for name in names:
        _checkout(repo, name, info, work / "stacks", f"{prefix}-{name}")
    one_stack = work / "one-stack.sh"
    one_stack.write_text(_ONE_STACK)
    one_stack.chmod(0o755)
    bin_dir = work / "bin"
    bin_dir.mkdir()
    terraform = bin_dir / "terraform"
    argv = " ".join(f"'{part}'" for part in embedded_terraform_argv())
    terraform.write_text(f'#!/bin/sh\nexec {argv} "$@"\n')
    terraform.chmod(0o755)
    env = {**_clean_environ(), **info.terraform_env()}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    started = time.monotonic()
    done = subprocess.run(["sh", "-c", script], cwd=work, env=env, check=False)
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"{script!r} exited {done.returncode}: {_first_error(work)}")
    return elapsed


def _checkout(repo: Path, name: str, info: SandboxInfo, into: Path, state_key: str) -> Path:
    """The stack as it is in the user's checkout, set up for the sandbox."""
    stack_dir = into / name
    shutil.copytree(repo / "stacks" / name, stack_dir)
    for file_name, content in info.override_files().items():
        (stack_dir / file_name).write_text(content)
    (stack_dir / "backend.hcl").write_text(hcl.attributes(info.backend_config(state_key)))
    return stack_dir


def _clean_environ() -> dict[str, str]:
    """This process's environment without Terraform or AWS settings of its own."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "AWS_"))}


def _first_error(work: Path) -> str:
    for log in sorted(work.glob("stacks/*/*.log")):
        text = log.read_text(errors="replace")
        if "Error" in text:
            return f"{log.parent.name}/{log.name}: {text[-2000:]}"
    return "no log shows an error"
