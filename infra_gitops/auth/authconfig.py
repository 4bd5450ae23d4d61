"""The daemon's auth config file (--auth-config, YAML): single sign-on and what the
provider's groups may do.

    oidc:
      issuer: https://login.example.com/realms/ops
      client_id: infra-gitops
      client_secret_file: /run/secrets/oidc-client-secret   # or $INFRA_GITOPS_OIDC_CLIENT_SECRET
      scopes: [openid, profile, email, groups]               # the default
      name_claim: preferred_username                         # then email, then sub
      groups_claim: groups
    group_roles:
      platform-admins: [admin]
      app-team: ["operator:app-*", readonly]

Why not gitops.yaml: see groups.py. A relative client_secret_file is read from the
config file's directory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from authlib.common.security import is_secure_transport

from infra_gitops.auth.errors import AuthError
from infra_gitops.auth.groups import GroupRoles, parse_group_roles, read_auth_config
from infra_gitops.auth.oidc import CALLBACK_PATH, DEFAULT_SCOPES, OidcSettings
from infra_gitops.secretfile import read_secret

CLIENT_SECRET_ENV = "INFRA_GITOPS_OIDC_CLIENT_SECRET"

_OIDC_KEYS = (
    "issuer",
    "client_id",
    "client_secret_file",
    "scopes",
    "name_claim",
    "groups_claim",
)


@dataclass(frozen=True)
class AuthConfig:
    oidc: OidcSettings | None
    group_roles: GroupRoles


def load_auth_config(
    path: Path, external_url: str | None, env: Mapping[str, str] = os.environ
) -> AuthConfig:
    """The auth config file, checked; AuthError naming the file and key. Single sign-on
    needs external_url (the provider sends the browser back to it)."""
    where = str(path)
    data = read_auth_config(path)
    group_roles = parse_group_roles(data, where)  # checks the top level's keys too
    section = (data or {}).get("oidc")
    if section is None:
        return AuthConfig(None, group_roles)
    if external_url is None:
        raise AuthError(
            f"{where}: oidc: single sign-on needs --external-url, the address browsers "
            f"reach this daemon at (the provider redirects to <external-url>{CALLBACK_PATH})"
        )
    oidc = _oidc(section, f"{where}: oidc", path.parent, env)
    settings = OidcSettings(
        redirect_uri=external_url.rstrip("/") + CALLBACK_PATH, group_roles=group_roles, **oidc
    )
    return AuthConfig(settings, group_roles)


def _oidc(section: Any, where: str, base: Path, env: Mapping[str, str]) -> dict[str, Any]:
    section = _mapping(section, where, _OIDC_KEYS)
    issuer = _text(section, "issuer", where)
    if not is_secure_transport(issuer):
        raise AuthError(
            f"{where}.issuer: expected an https:// URL (http only on a loopback address), "
            f"got {issuer!r}"
        )
    found: dict[str, Any] = {
        "issuer": issuer,
        "client_id": _text(section, "client_id", where),
        "client_secret": _client_secret(section, where, base, env),
    }
    for key in ("name_claim", "groups_claim"):
        if key in section:
            found[key] = _text(section, key, where)
    scopes = section.get("scopes", list(DEFAULT_SCOPES))
    if not isinstance(scopes, list) or not all(isinstance(s, str) and s for s in scopes):
        raise AuthError(f"{where}.scopes: expected a list of scopes such as [openid, groups]")
    if "openid" not in scopes:
        raise AuthError(f"{where}.scopes: must include openid (an ID token is what we verify)")
    found["scopes"] = tuple(scopes)
    return found


def _client_secret(
    section: Mapping[str, Any], where: str, base: Path, env: Mapping[str, str]
) -> str:
    if "client_secret_file" not in section:
        secret = env.get(CLIENT_SECRET_ENV, "").strip()
        if not secret:
            raise AuthError(
                f"{where}: no client secret: give client_secret_file, or set ${CLIENT_SECRET_ENV}"
            )
        return secret
    path = base / _text(section, "client_secret_file", where)
    return read_secret(path, f"{where}.client_secret_file", AuthError)


def _mapping(data: Any, where: str, known: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(data, dict):
        raise AuthError(f"{where}: expected a mapping with {', '.join(known)}")
    unknown = sorted(str(k) for k in set(data) - set(known))
    if unknown:
        raise AuthError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(known)})")
    return data


def _text(section: Mapping[str, Any], key: str, where: str) -> str:
    value = section.get(key)
    if not isinstance(value, str) or not value.strip():
        raise AuthError(f"{where}.{key}: expected a non-empty string")
    return value.strip()
