"""Many stacks at once: dependency waves, bounded parallelism, failures kept contained.

Stacks in one wave depend only on earlier waves, so a wave runs in parallel. A stack
that fails never stops the others; a stack whose dependency failed (or was skipped) is
skipped itself, and says which dependency and why.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

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


class OutputsCache:
    """Outputs of stacks, fetched once per command and updated by applies (thread-safe)."""

    def __init__(self, fetch: Callable[[str], Mapping[str, Any]]) -> None:
        self._fetch = fetch
        self._values: dict[str, Mapping[str, Any]] = {}
        # Re-entrant: fetching one stack's outputs may need its own dependencies' outputs.
        self._lock = threading.RLock()

    def get(self, stack: str) -> Mapping[str, Any]:
        with self._lock:
            if stack not in self._values:
                self._values[stack] = self._fetch(stack)
            return self._values[stack]

    def put(self, stack: str, outputs: Mapping[str, Any]) -> None:
        with self._lock:
            self._values[stack] = outputs
