"""Roles, grants scoped by stack glob, and can(): the matrix, and deny by default."""

from __future__ import annotations

import pytest

from infra_gitops.auth.rbac import (
    Action,
    Grant,
    GrantError,
    Principal,
    Role,
    can,
    parse_grants,
)


def who(*grants: str) -> Principal:
    return Principal("someone", parse_grants(grants), via="password")


STACK_ACTIONS = [a for a in Action if a not in (Action.MANAGE_ACCOUNTS, Action.MANAGE_TOKENS)]
OPERATOR = {Action.VIEW, Action.SYNC, Action.REFRESH, Action.HEAL}

# (grants, stack, actions allowed on it)
MATRIX = [
    (["readonly"], "app-web", {Action.VIEW}),
    (["operator"], "network", OPERATOR),
    (["admin"], "network", set(STACK_ACTIONS)),
    (["operator:app-*"], "app-web", OPERATOR),
    (["operator:app-*"], "app", set()),  # the glob needs the dash
    (["operator:app-*"], "network", set()),
    (["operator:app-*"], "APP-web", set()),  # stack names are case sensitive
    (["admin:app-?"], "app-1", set(STACK_ACTIONS)),
    (["admin:app-?"], "app-10", set()),
    (["readonly", "operator:app-*"], "network", {Action.VIEW}),
    (["readonly", "operator:app-*"], "app-db", OPERATOR),
    (["operator:net[0-9]"], "net7", OPERATOR),
    (["operator:network"], "network-2", set()),  # a name is exact
    ([], "network", set()),
]


@pytest.mark.parametrize(("grants", "stack", "allowed"), MATRIX)
def test_each_action_on_a_stack_is_allowed_exactly_by_the_grants(
    grants: list[str], stack: str, allowed: set[Action]
) -> None:
    principal = who(*grants)

    assert {a for a in STACK_ACTIONS if can(principal, a, stack)} == allowed


@pytest.mark.parametrize(
    ("grants", "expected"),
    [(["admin"], True), (["admin:*"], True), (["admin:app-*"], False), (["operator"], False)],
)
def test_accounts_and_tokens_need_admin_over_every_stack(grants: list[str], expected: bool) -> None:
    principal = who(*grants)

    assert can(principal, Action.MANAGE_ACCOUNTS) is expected
    assert can(principal, Action.MANAGE_TOKENS) is expected


def test_deny_by_default() -> None:
    admin = who("admin")

    assert not can(None, Action.VIEW, "app")
    assert not can(admin, "launch-missiles", "app")  # not an action
    assert not can(admin, Action.SYNC)  # a stack action without its stack
    assert not can(admin, Action.MANAGE_ACCOUNTS, "app")  # an account action with one
    assert can(admin, "sync", "app")  # the action's value works as well as the enum


@pytest.mark.parametrize(
    ("text", "grant"),
    [
        ("readonly", Grant(Role.READONLY, "*")),
        ("operator:app-*", Grant(Role.OPERATOR, "app-*")),
        (" admin : team/* ", Grant(Role.ADMIN, "team/*")),
    ],
)
def test_a_grant_is_read_from_role_and_glob(text: str, grant: Grant) -> None:
    assert Grant.parse(text) == grant


@pytest.mark.parametrize("text", ["root", "", "operator:app stacks", "Admin"])
def test_a_bad_grant_names_itself_and_the_roles(text: str) -> None:
    with pytest.raises(GrantError) as caught:
        Grant.parse(text)

    assert repr(text) in str(caught.value)


def test_duplicate_grants_are_kept_once() -> None:
    assert parse_grants(["readonly", "readonly:*", "operator:a"]) == (
        Grant(Role.READONLY),
        Grant(Role.OPERATOR, "a"),
    )
