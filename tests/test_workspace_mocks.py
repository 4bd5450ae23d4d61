"""Mock values for dependency outputs (workspace.resolve_variables, StackRunner): used only
when asked for and only while the output does not exist; a runner made for them plans
and does nothing else."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from infra_gitops.errors import OutputsPendingError
from infra_gitops.models import Stack
from infra_gitops.stackrun import StackRunner
from infra_gitops.workspace import resolve_variables

MOCK = "https://mock/queue"

APP = Stack(
    name="app",
    path="stacks/app",
    variables_from_stack={"queue_url": ("storage", "queue_url"), "zones": ("network", "zones")},
    mock_outputs={"queue_url": MOCK, "zones": ["a", "b"]},
    sensitive_variables=frozenset({"zones"}),
)


def _outputs(by_stack: Mapping[str, Mapping[str, Any]]) -> Any:
    return lambda name: by_stack.get(name, {})


def test_without_asking_a_missing_output_still_waits() -> None:
    with pytest.raises(OutputsPendingError, match="waiting on storage"):
        resolve_variables(APP, {}, _outputs({}))


def test_asked_a_missing_or_null_output_takes_its_mock() -> None:
    resolved = resolve_variables(APP, {}, _outputs({"network": {"zones": None}}), use_mocks=True)

    assert resolved.values == {"queue_url": MOCK, "zones": ["a", "b"]}
    assert resolved.mocked == ("storage.queue_url", "network.zones")
    # A sensitive variable's mock is a secret like its real value, as engines print it.
    assert '["a", "b"]' in resolved.secrets


def test_the_real_output_wins_once_it_exists() -> None:
    real = {"storage": {"queue_url": "https://real/queue"}, "network": {"zones": ["c"]}}

    resolved = resolve_variables(APP, {}, _outputs(real), use_mocks=True)

    assert resolved.values == {"queue_url": "https://real/queue", "zones": ["c"]}
    assert resolved.mocked == ()


def test_a_variable_without_a_mock_still_waits_when_mocks_are_asked_for() -> None:
    stack = Stack("app", "stacks/app", variables_from_stack={"q": ("storage", "q")})

    with pytest.raises(OutputsPendingError, match="waiting on storage"):
        resolve_variables(stack, {}, _outputs({}), use_mocks=True)


def test_a_runner_made_for_mocks_refuses_all_but_plan(tmp_path: Path) -> None:
    # Nothing is reached before the refusal: no store, engine or lock is needed.
    runner = StackRunner(
        state_dir=tmp_path,
        store=None,  # type: ignore[arg-type]
        source=None,  # type: ignore[arg-type]
        engine_for=None,  # type: ignore[arg-type]
        workspace_for=None,  # type: ignore[arg-type]
        locks=None,  # type: ignore[arg-type]
        plans_only=True,
    )

    for operation in (
        lambda: runner.apply(APP, None),
        lambda: runner.drift(APP, heal=True),
        lambda: runner.destroy(APP),
    ):
        with pytest.raises(RuntimeError, match="cannot"):
            operation()
