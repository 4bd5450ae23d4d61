"""What the stacks manage: every stack's state, read through the runner (its lock, its
workspace: the same backend, sandbox and credentials as a plan), and what their
configuration declares."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from infra_gitops.engines import tfconfig
from infra_gitops.engines.base import ManagedResource
from infra_gitops.errors import GitOpsError
from infra_gitops.models import Stack
from infra_gitops.stackrun import StackRunner

States = Mapping[str, tuple[ManagedResource, ...]]
"""Stack name -> the managed resources its state holds."""


class StateUnreadableError(GitOpsError):
    """A stack's state could not be read: nothing may be called unmanaged then."""


def read_states(runner: StackRunner, stacks: Sequence[Stack], *, parallelism: int) -> States:
    """The state of every stack; raises StateUnreadableError naming each stack whose state
    could not be read (a resource it holds would be reported as unmanaged)."""

    def read(stack: Stack) -> tuple[ManagedResource, ...] | str:
        # Without the variables taken from other stacks and the environment: a state is
        # read without them, and a dependency never applied must not stop it.
        quiet = replace(stack, variables_from_stack={}, variables_from_env={})
        try:
            return runner.with_engine(quiet, "state", lambda engine, ws: engine.state_resources(ws))
        except GitOpsError as exc:
            return str(exc)

    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        results = dict(zip((s.name for s in stacks), pool.map(read, stacks), strict=True))
    failed = {name: r for name, r in results.items() if isinstance(r, str)}
    if failed:
        named = "\n".join(f"- stack {name!r}: {why}" for name, why in failed.items())
        raise StateUnreadableError(
            "cannot tell which resources no stack manages: the state of "
            f"{len(failed)} stack(s) could not be read, and what they hold would be "
            f"reported as unmanaged. Nothing is reported.\n{named}"
        )
    return {name: r for name, r in results.items() if not isinstance(r, str)}


def declared_types(source_root: Path, stack: Stack) -> set[str]:
    """The resource types of the `resource` blocks of a Terraform/OpenTofu stack and of the
    local modules it calls (none for Pulumi: its program is not read)."""
    if stack.engine == "pulumi":
        return set()
    return {
        resource.type
        for module in tfconfig.read_module_tree(source_root / stack.path, within_base=False)
        for _, config in module.files or ()
        for resource in config.resources
    }
