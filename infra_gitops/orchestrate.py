"""Many stacks at once: dependency waves, bounded parallelism, failures kept contained.

Stacks in one wave depend only on earlier waves, so a wave runs in parallel. A stack
that fails never stops the others; a stack whose dependency failed (or was skipped) is
skipped itself, and says which dependency and why.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from infra_gitops import discovery
from infra_gitops.models import RunStatus, Stack, StackOutcome

StackOperation = Callable[[Stack], StackOutcome]

_BLOCKING = (RunStatus.FAILED, RunStatus.SKIPPED, RunStatus.INTERRUPTED)


def run_in_order(
    stacks: Sequence[Stack],
    operation: StackOperation,
    *,
    parallelism: int = 2,
    gate_on_dependencies: bool = True,
) -> list[StackOutcome]:
    """Run operation on every stack, wave by wave; outcomes in dependency order.

    With gate_on_dependencies, a stack is skipped when a dependency (among `stacks`)
    did not succeed. Plans and drift checks do not gate: each stack reads what is live.
    """
    outcomes: dict[str, StackOutcome] = {}
    ordered: list[str] = []
    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        for wave in discovery.dependency_order(list(stacks)):
            futures = {}
            for stack in wave:
                blocker = _blocking_dependency(stack, outcomes) if gate_on_dependencies else None
                if blocker is not None:
                    outcomes[stack.name] = _skipped(stack, blocker, outcomes[blocker])
                else:
                    futures[stack.name] = pool.submit(operation, stack)
            for name, future in futures.items():
                outcomes[name] = future.result()
            ordered.extend(s.name for s in wave)
    return [outcomes[name] for name in ordered]


def _blocking_dependency(stack: Stack, outcomes: Mapping[str, StackOutcome]) -> str | None:
    for dep in stack.depends_on:
        if dep in outcomes and outcomes[dep].status in _BLOCKING:
            return dep
    return None


def _skipped(stack: Stack, dep: str, dep_outcome: StackOutcome) -> StackOutcome:
    return StackOutcome(
        stack=stack.name,
        kind=dep_outcome.kind,
        status=RunStatus.SKIPPED,
        error=f"skipped: dependency {dep} {dep_outcome.status}",
    )
