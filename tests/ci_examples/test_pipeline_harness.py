"""The runner stand-ins refuse what they do not understand, so the examples cannot drift
into syntax the end-to-end test would silently mis-run."""

from __future__ import annotations

import pytest
from pipeline_expressions import (
    UnknownExpression,
    github_condition,
    github_text,
    gitlab_expand,
    gitlab_inputs,
    gitlab_rule,
)

CONTEXTS = {
    "github": {"event_name": "push", "event": {"pull_request": None}},
    "inputs": {"plan-store": "s3://b/p"},
}


def test_github_expressions_evaluate_as_on_github() -> None:
    assert github_text("store=${{ inputs.plan-store }}", CONTEXTS) == "store=s3://b/p"
    # A missing property is empty, as on GitHub (the plan job's PR number on a push).
    assert github_text("${{ github.event.pull_request.number }}", CONTEXTS) == ""
    assert github_condition("github.event_name == 'push'", CONTEXTS)
    assert not github_condition("${{ github.event_name == 'pull_request' }}", CONTEXTS)


@pytest.mark.parametrize(
    "expression",
    ["matrix.os", "fromJSON(inputs.x)", "github.event_name != 'push'", "inputs.a || 'b'"],
)
def test_unknown_github_expressions_fail(expression: str) -> None:
    with pytest.raises(UnknownExpression):
        github_text("${{ " + expression + " }}", CONTEXTS)


def test_gitlab_forms_evaluate_and_unknown_ones_fail() -> None:
    assert gitlab_inputs("$[[ inputs.image ]]", {"image": "python:3.11"}) == "python:3.11"
    assert gitlab_expand("$A-${B}-$C", {"A": "1", "B": "2"}) == "1-2-"
    assert gitlab_rule('$X == "a" && $Y == $Z', {"X": "a", "Y": "b", "Z": "b"})
    assert not gitlab_rule('$X == "a"', {})
    with pytest.raises(UnknownExpression):
        gitlab_inputs("$[[ inputs.nope ]]", {"image": "x"})
    with pytest.raises(UnknownExpression):
        gitlab_rule("$X =~ /main/", {"X": "main"})
