"""Patterns that select stacks, instances of stacks with environments included."""

from __future__ import annotations

import pytest

from infra_gitops.auth.rbac import Action, Grant
from infra_gitops.stacknames import definition, matches


@pytest.mark.parametrize(
    ("pattern", "name", "selected"),
    [
        ("app", "app", True),
        ("app", "app@prod", True),  # a definition selects all its instances
        ("app@prod", "app@prod", True),
        ("app@prod", "app@dev", False),
        ("*@prod", "app@prod", True),
        ("*@prod", "prod", False),
        ("app-*", "app-web@dev", True),
        ("ap", "app@prod", False),
        ("*", "app@prod", True),
    ],
)
def test_a_pattern_selects_by_name_or_definition(pattern: str, name: str, selected: bool) -> None:
    assert matches(pattern, name) is selected


def test_definition() -> None:
    assert definition("app@prod") == "app" and definition("net") == "net"


def test_a_role_can_be_granted_over_one_environment() -> None:
    grant = Grant.parse("operator:*@prod")
    assert grant.allows(Action.SYNC, "app@prod")
    assert not grant.allows(Action.SYNC, "app@dev")
    assert Grant.parse("operator:app").allows(Action.SYNC, "app@dev")
