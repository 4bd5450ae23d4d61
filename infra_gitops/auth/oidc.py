"""Single sign-on: the OpenID Connect relying party (authorization code flow with PKCE
S256, state and nonce), on authlib. No HTTP server here: the web layer (web/oidc.py)
sends the browser to authorization_url() and hands the callback's code to sign_in().

The provider's endpoints come from its discovery document, fetched once (at the first
login, so a provider that is down does not stop the daemon from starting) and kept; the
issuer it states must be the configured one. Its signing keys (JWKS) are fetched at every
login: logins are rare, and a provider that rotated its keys then just works.

Errors are OidcError: the message names the step that failed, never a code, a token or
the client secret (the daemon also scrubs the secret from every log line).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
from authlib.common.security import is_secure_transport
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from infra_gitops.auth.groups import GroupRoles, grants_for_groups
from infra_gitops.auth.oidc_state import LoginAttempt, PendingLogins
from infra_gitops.auth.rbac import Principal
from infra_gitops.errors import GitOpsError

CALLBACK_PATH = "/auth/oidc/callback"
DEFAULT_SCOPES = ("openid", "profile", "email", "groups")
HTTP_TIMEOUT_S = 10.0
LEEWAY_S = 60
"""Clock skew allowed between us and the provider on exp and iat."""


class OidcError(GitOpsError):
    """A single sign-on refused or failed; `step` (discovery, token, id_token, groups...)
    is for the log and the metrics, the message for a person."""

    def __init__(self, step: str, message: str) -> None:
        self.step = step
        super().__init__(message)


@dataclass(frozen=True)
class OidcSettings:
    """The `oidc:` section of the daemon's auth config file (auth/authconfig.py)."""

    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str
    """<external-url>/auth/oidc/callback: registered with the provider."""
    group_roles: GroupRoles
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    name_claim: str = "preferred_username"
    groups_claim: str = "groups"


@dataclass(frozen=True)
class Provider:
    """What discovery told about the provider."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    token_auth_method: str
    """client_secret_basic (the spec's default) unless the provider supports only _post."""
    signing_algs: tuple[str, ...]


class OidcClient:
    """The relying party of one provider; thread safe (the web layer calls it from its
    thread pool)."""

    def __init__(self, settings: OidcSettings, *, timeout_s: float = HTTP_TIMEOUT_S) -> None:
        self.settings = settings
        self._timeout_s = timeout_s
        self._provider: Provider | None = None
        self._lock = threading.Lock()
        self.pending = PendingLogins(settings.client_secret)
        """Logins between the redirect and the callback (sealed in a cookie)."""

    def authorization_url(self, attempt: LoginAttempt) -> str:
        """Where to send the browser to log in."""
        provider = self.provider()
        with self._session(provider) as http:
            url, _ = http.create_authorization_url(
                provider.authorization_endpoint,
                state=attempt.state,
                code_verifier=attempt.verifier,
                nonce=attempt.nonce,
            )
        return str(url)

    def sign_in(self, code: str, attempt: LoginAttempt) -> Principal:
        """The user the provider vouches for: the code exchanged, the ID token verified,
        their groups mapped to grants. OidcError when any step fails, or when none of
        their groups is given a role."""
        provider = self.provider()
        token = self._exchange(provider, code, attempt)
        claims = self._verify(provider, token, attempt)
        name = _name(claims, self.settings.name_claim)
        groups = _groups(claims, self.settings.groups_claim)
        grants = grants_for_groups(groups, self.settings.group_roles)
        if not grants:
            raise OidcError(
                "groups",
                f"{name} signed in, but none of their groups ({', '.join(groups) or 'none'}) "
                "is given a role in the auth config's group_roles: access refused",
            )
        return Principal(name, grants, via="oidc")

    def provider(self) -> Provider:
        """The provider's discovery document, fetched once."""
        with self._lock:
            if self._provider is None:
                self._provider = self._discover()
            return self._provider

    # ------------------------------------------------------------------ steps

    def _discover(self) -> Provider:
        issuer = self.settings.issuer
        url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        document = self._get_json(url, "discovery")
        if document.get("issuer") != issuer:
            raise OidcError(
                "discovery",
                f"{url}: the provider says its issuer is {document.get('issuer')!r}, "
                f"not the configured {issuer!r}",
            )
        endpoints = {}
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            value = document.get(key)
            if not isinstance(value, str) or not is_secure_transport(value):
                raise OidcError("discovery", f"{url}: {key} missing or not an https URL")
            endpoints[key] = value
        methods = document.get("token_endpoint_auth_methods_supported") or []
        post_only = "client_secret_post" in methods and "client_secret_basic" not in methods
        algs = document.get("id_token_signing_alg_values_supported") or ["RS256"]
        return Provider(
            issuer=issuer,
            token_auth_method="client_secret_post" if post_only else "client_secret_basic",
            signing_algs=tuple(a for a in algs if a != "none"),
            **endpoints,
        )

    def _exchange(self, provider: Provider, code: str, attempt: LoginAttempt) -> Mapping[str, Any]:
        with self._session(provider) as http:
            try:
                token = http.fetch_token(
                    provider.token_endpoint,
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=attempt.verifier,
                    timeout=self._timeout_s,
                )
            except OAuthError as exc:
                raise OidcError(
                    "token",
                    f"the token endpoint refused the code: {exc.error}"
                    + (f" ({exc.description})" if exc.description else ""),
                ) from None
            except (requests.RequestException, ValueError) as exc:
                raise OidcError(
                    "token", f"{provider.token_endpoint}: {type(exc).__name__}"
                ) from None
        if not isinstance(token.get("id_token"), str):
            raise OidcError("token", "the token endpoint answered without an ID token")
        return dict(token)

    def _verify(
        self, provider: Provider, token: Mapping[str, Any], attempt: LoginAttempt
    ) -> Mapping[str, Any]:
        keys = self._get_json(provider.jwks_uri, "jwks")
        try:
            decoded = jwt.decode(
                token["id_token"],
                KeySet.import_key_set(keys),  # type: ignore[arg-type]
                registry=JWSRegistry(algorithms=list(provider.signing_algs)),
            )
            claims = CodeIDToken(
                decoded.claims,
                decoded.header,
                {
                    "iss": {"essential": True, "value": provider.issuer},
                    "aud": {"essential": True, "value": self.settings.client_id},
                },
                {
                    "nonce": attempt.nonce,
                    "client_id": self.settings.client_id,
                    "access_token": token.get("access_token"),
                },
            )
            claims.validate(leeway=LEEWAY_S)
        except (JoseError, ValueError) as exc:
            raise OidcError(
                "id_token", f"the ID token does not verify: {_jose_reason(exc)}"
            ) from None
        return dict(claims)

    def _session(self, provider: Provider) -> OAuth2Session:
        settings = self.settings
        return OAuth2Session(
            settings.client_id,
            settings.client_secret,
            scope=" ".join(settings.scopes),
            redirect_uri=settings.redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method=provider.token_auth_method,
        )

    def _get_json(self, url: str, step: str) -> dict[str, Any]:
        try:
            response = requests.get(url, timeout=self._timeout_s)
            response.raise_for_status()
            document = response.json()
        except requests.RequestException as exc:
            raise OidcError(step, f"{url}: {_http_reason(exc)}") from None
        except ValueError:
            raise OidcError(step, f"{url}: the answer is not JSON") from None
        if not isinstance(document, dict):
            raise OidcError(step, f"{url}: expected a JSON object")
        return document


def _name(claims: Mapping[str, Any], name_claim: str) -> str:
    """The user's name: the configured claim, else email, else sub (always present)."""
    for claim in dict.fromkeys((name_claim, "email", "sub")):
        value = claims.get(claim)
        if isinstance(value, str) and value.strip():
            return value.strip()
    raise OidcError("id_token", f"the ID token has no {name_claim}, email or sub claim")


def _groups(claims: Mapping[str, Any], groups_claim: str) -> list[str]:
    value = claims.get(groups_claim)
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable) and not isinstance(value, Mapping):
        return [g for g in value if isinstance(g, str)]
    return []


def _jose_reason(exc: Exception) -> str:
    """What failed in the ID token, in words (the token itself is never quoted)."""
    return getattr(exc, "description", None) or getattr(exc, "error", None) or type(exc).__name__


def _http_reason(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, requests.Timeout):
        return "no answer in time"
    return f"unreachable ({type(exc).__name__})"
