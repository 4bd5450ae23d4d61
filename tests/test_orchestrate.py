from __future__ import annotations

import threading
import time

from infra_gitops.models import UNKNOWN_MARKER, RunKind, RunStatus, Stack, StackOutcome
from infra_gitops.orchestrate import run_in_order
from infra_gitops.stackrun import OutputsCache


def _stack(name: str, *deps: str) -> Stack:
    return Stack(name=name, path=f"stacks/{name}", depends_on=tuple(deps))


def _op(status_of: dict[str, RunStatus], seen: list[str]):
    def operation(stack: Stack) -> StackOutcome:
        seen.append(stack.name)
        return StackOutcome(stack.name, RunKind.APPLY, status_of.get(stack.name, RunStatus.APPLIED))

    return operation


def test_dependencies_run_before_dependents() -> None:
    seen: list[str] = []
    stacks = [_stack("app", "db"), _stack("db", "net"), _stack("net")]
    outcomes = run_in_order(stacks, _op({}, seen))
    assert seen == ["net", "db", "app"]
    assert [o.stack for o in outcomes] == ["net", "db", "app"]


def test_failed_dependency_skips_dependents_but_not_others() -> None:
    seen: list[str] = []
    stacks = [_stack("net"), _stack("db", "net"), _stack("app", "db"), _stack("dns")]
    outcomes = {o.stack: o for o in run_in_order(stacks, _op({"net": RunStatus.FAILED}, seen))}
    assert outcomes["net"].status is RunStatus.FAILED
    assert outcomes["db"].status is RunStatus.SKIPPED
    assert outcomes["db"].error == "skipped: dependency net failed"
    assert outcomes["app"].status is RunStatus.SKIPPED
    assert outcomes["app"].error == "skipped: dependency db skipped"
    assert outcomes["dns"].status is RunStatus.APPLIED
    assert sorted(seen) == ["dns", "net"]


def test_without_gating_every_stack_runs() -> None:
    seen: list[str] = []
    stacks = [_stack("net"), _stack("db", "net")]
    run_in_order(stacks, _op({"net": RunStatus.FAILED}, seen), gate_on_dependencies=False)
    assert seen == ["net", "db"]


def test_independent_stacks_of_a_wave_run_in_parallel() -> None:
    running = 0
    peak = 0
    lock = threading.Lock()

    def operation(stack: Stack) -> StackOutcome:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.2)
        with lock:
            running -= 1
        return StackOutcome(stack.name, RunKind.PLAN, RunStatus.NO_CHANGES)

    run_in_order([_stack("a"), _stack("b"), _stack("c")], operation, parallelism=2)
    assert peak == 2


def test_outputs_cache_fetches_once_and_takes_applied_outputs() -> None:
    calls: list[str] = []

    def fetch(name: str) -> dict[str, str]:
        calls.append(name)
        return {"url": f"{name}-fetched"}

    cache = OutputsCache()
    assert cache.get("storage", fetch) == {"url": "storage-fetched"}
    assert cache.get("storage", fetch) == {"url": "storage-fetched"}
    cache.put("net", {"url": "net-applied"})
    assert cache.get("net", fetch) == {"url": "net-applied"}
    assert calls == ["storage"]


def test_outputs_cache_reads_again_what_it_cannot_vouch_for() -> None:
    calls: list[str] = []
    changes = {"storage": "run-1:applied"}

    def fetch(name: str) -> dict[str, str]:
        calls.append(name)
        return {"url": f"{name}-fetched-{len(calls)}"}

    cache = OutputsCache(changes.get)
    # An apply whose result was not fully known leaves nothing to trust.
    cache.put("storage", {"url": UNKNOWN_MARKER})
    assert cache.get("storage", fetch) == {"url": "storage-fetched-1"}
    # Another process applied the stack since (a `rollback`): read again.
    changes["storage"] = "run-2:applied"
    assert cache.get("storage", fetch) == {"url": "storage-fetched-2"}
    assert cache.get("storage", fetch) == {"url": "storage-fetched-2"}
    # A failed apply may have changed part of the state.
    cache.forget("storage")
    assert cache.get("storage", fetch) == {"url": "storage-fetched-3"}
    assert calls == ["storage"] * 3
