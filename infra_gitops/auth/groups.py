"""Single sign-on groups -> grants: the `group_roles` of the daemon's auth config file
(YAML; its `oidc:` section is read by authconfig.py):

    group_roles:
      platform-admins: [admin]
      app-team: ["operator:app-*", readonly]

Why a file of the daemon's and not gitops.yaml: the manifest is read per commit, so a
rollback to an old commit, or a branch being planned, would also roll back who may act;
and whoever may merge a manifest change should not thereby give themselves the right to
roll back or manage accounts. Argo CD keeps its policy apart from the applications too
(argocd-rbac-cm). The file sits with the OIDC client settings, which hold a secret and
have no place in Git either.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from infra_gitops.auth.errors import AuthError
from infra_gitops.auth.rbac import Grant, GrantError, parse_grants

GroupRoles = Mapping[str, tuple[Grant, ...]]


TOP_KEYS = ("group_roles", "oidc")
"""The keys of the auth config file."""


def load_group_roles(path: Path) -> GroupRoles:
    """The group_roles of the auth config file; AuthError naming the file and key."""
    return parse_group_roles(read_auth_config(path), str(path))


def read_auth_config(path: Path) -> Any:
    """The auth config file's YAML document; AuthError naming the file."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AuthError(f"{path}: cannot read the auth config: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise AuthError(f"{path}: not valid YAML: {exc}") from None


def parse_group_roles(data: Any, where: str) -> GroupRoles:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise AuthError(f"{where}: expected a mapping with group_roles")
    unknown = sorted(str(key) for key in set(data) - set(TOP_KEYS))
    if unknown:
        raise AuthError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(TOP_KEYS)})")
    roles = data.get("group_roles") or {}
    if not isinstance(roles, dict):
        raise AuthError(f"{where}: group_roles: expected a mapping of group -> list of roles")
    result: dict[str, tuple[Grant, ...]] = {}
    for group, grants in roles.items():
        key = f"{where}: group_roles.{group}"
        if not isinstance(grants, list) or not all(isinstance(g, str) for g in grants):
            raise AuthError(f"{key}: expected a list of roles such as [readonly, operator:app-*]")
        try:
            result[str(group)] = parse_grants(grants)
        except GrantError as exc:
            raise AuthError(f"{key}: {exc}") from None
    return result


def grants_for_groups(groups: Iterable[str], group_roles: GroupRoles) -> tuple[Grant, ...]:
    """The grants of every group the user is in (none: no access, deny by default)."""
    found: list[Grant] = []
    for group in groups:
        for grant in group_roles.get(group, ()):
            if grant not in found:
                found.append(grant)
    return tuple(found)
