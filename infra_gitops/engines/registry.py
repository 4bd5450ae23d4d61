"""Engine name (a stack's `engine:` in the manifest) -> engine factory.

A plain dict, read by whoever needs an engine for a stack; adding an engine is adding an
entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from infra_gitops.engines.base import Engine
from infra_gitops.engines.terraform import TerraformEngine
from infra_gitops.errors import EngineNotFoundError
from infra_gitops.models import Stack

EngineFactory = Callable[[], Engine]


def _pulumi_engine() -> Engine:
    # Imported on demand: the Pulumi SDK is an optional dependency (infra-gitops[pulumi]).
    try:
        from infra_gitops.engines.pulumi import PulumiEngine
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.split(".")[0] not in ("pulumi", "semver", "grpc"):
            raise
        raise EngineNotFoundError(
            "engine 'pulumi' needs the Pulumi SDK, which is not installed: "
            "`pip install 'infra-gitops[pulumi]'` (and the Pulumi CLI: "
            "https://www.pulumi.com/docs/install/)"
        ) from None
    return PulumiEngine()


ENGINES: dict[str, EngineFactory] = {
    # Same CLI, same engine class: only the default executable differs
    # (see engines.binaries.resolve_binary).
    "terraform": partial(TerraformEngine, "terraform"),
    "tofu": partial(TerraformEngine, "tofu"),
    "pulumi": _pulumi_engine,
}


def engine_for(name: str) -> Engine:
    """A new engine instance for the manifest's engine name."""
    try:
        factory = ENGINES[name]
    except KeyError:
        known = ", ".join(sorted(ENGINES))
        raise EngineNotFoundError(f"unknown engine {name!r} (known engines: {known})") from None
    return factory()


def engine_for_stack(stack: Stack) -> Engine:
    """The engine a stack's manifest entry asks for (`engine:`)."""
    return engine_for(stack.engine)
