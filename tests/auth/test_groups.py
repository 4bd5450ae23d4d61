"""Single sign-on groups -> grants, from the daemon's auth config file: read, errors
that name the file and key, and no access for groups nobody mapped."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra_gitops.auth.errors import AuthError
from infra_gitops.auth.groups import grants_for_groups, load_group_roles
from infra_gitops.auth.rbac import Action, Principal, can, parse_grants


def test_groups_give_the_grants_mapped_to_them(tmp_path: Path) -> None:
    path = tmp_path / "auth.yaml"
    path.write_text("group_roles:\n  platform: [admin]\n  app-team: ['operator:app-*', readonly]\n")
    mapping = load_group_roles(path)

    grants = grants_for_groups(["app-team", "unmapped", "app-team"], mapping)
    ada = Principal("ada@example.com", grants, via="oidc")

    assert grants == parse_grants(["operator:app-*", "readonly"])
    assert can(ada, Action.HEAL, "app-web") and not can(ada, Action.HEAL, "network")
    assert grants_for_groups(["unmapped"], mapping) == ()
    assert grants_for_groups(["platform"], mapping) == parse_grants(["admin"])


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("group_roles:\n  ops: [root]\n", "group_roles.ops: role 'root'"),
        ("group_roles:\n  ops: admin\n", "group_roles.ops: expected a list"),
        ("group_roles: [ops]\n", "group_roles: expected a mapping"),
        ("roles: {}\n", "unknown key 'roles'"),
        ("group_roles: {ops: [admin]\n", "not valid YAML"),
    ],
)
def test_a_bad_config_names_the_file_and_key(tmp_path: Path, text: str, complaint: str) -> None:
    path = tmp_path / "auth.yaml"
    path.write_text(text)

    with pytest.raises(AuthError) as caught:
        load_group_roles(path)

    assert str(caught.value).startswith(f"{path}: ")
    assert complaint in str(caught.value)


def test_a_missing_config_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(AuthError, match="auth.yaml: cannot read"):
        load_group_roles(tmp_path / "auth.yaml")
