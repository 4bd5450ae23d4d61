"""Key paths and the rendering of a Problem (infra_gitops/config/document.py)."""

from __future__ import annotations

from infra_gitops.config import Problem, render_key_path


def test_render_key_path() -> None:
    assert render_key_path(("stacks", 1, "policy", "drift_interval")) == (
        "stacks[1].policy.drift_interval"
    )
    assert render_key_path(("stacks", 0, "backend", "a.b c")) == 'stacks[0].backend["a.b c"]'
    assert render_key_path(()) == ""


def test_problem_rendering() -> None:
    assert str(Problem("gitops.yaml", 12, "stacks[1].polcy", "unknown key 'polcy'")) == (
        "gitops.yaml:12: stacks[1].polcy: unknown key 'polcy'"
    )
    assert str(Problem("gitops.yaml", None, "", "manifest not found")) == (
        "gitops.yaml: manifest not found"
    )
