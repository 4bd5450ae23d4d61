"""A STAND-IN for a real OpenID Connect provider (Keycloak, Dex, Okta, Entra ID...), which
cannot run here: a small provider on 127.0.0.1 (stdlib http.server in a thread) with
discovery, a JWKS (an RSA key made per test session), /authorize, which approves the
configured user at once (redirects back with a code and the state), and /token, which
checks the code, the client secret and the PKCE code_verifier against the challenge, and
issues an RS256 ID token with the user's groups.

Knobs break it on purpose, as a misbehaving or hostile provider would: `id_token_claims`
overrides claims (a wrong audience, a wrong nonce), `bad_signature` signs the ID token with
another key. Everything it issued is kept (`issued`), so tests can check no log shows it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import RSAKey

CLIENT_ID = "infra-gitops"
CLIENT_SECRET = "s3cret-of-the-client-0123456789"


@dataclass
class User:
    sub: str
    preferred_username: str | None
    email: str | None
    groups: list[str]


@dataclass
class Grant:
    """A code given out at /authorize, redeemable once."""

    redirect_uri: str
    challenge: str | None
    method: str | None
    nonce: str | None
    user: User


@dataclass
class StandInProvider:
    key: RSAKey
    url: str = ""
    user: User = field(default_factory=lambda: User("u-1", "alice", "alice@example.com", []))
    id_token_claims: dict[str, Any] = field(default_factory=dict)
    bad_signature: bool = False
    grants: dict[str, Grant] = field(default_factory=dict)
    issued: list[str] = field(default_factory=list)
    """Every code, access token and ID token handed out."""
    token_requests: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def issuer(self) -> str:
        return self.url

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "jwks_uri": f"{self.url}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        }

    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        """Auto-approve: 302 back to redirect_uri with a code and the state."""
        if query.get("client_id") != CLIENT_ID or query.get("response_type") != "code":
            return 400, {}, {"error": "invalid_request"}
        code = secrets.token_urlsafe(16)
        with self.lock:
            self.grants[code] = Grant(
                query["redirect_uri"],
                query.get("code_challenge"),
                query.get("code_challenge_method"),
                query.get("nonce"),
                self.user,
            )
            self.issued.append(code)
        back = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"
        return 302, {"Location": back}, None

    def token(self, form: dict[str, str], authorization: str) -> tuple[int, dict[str, str], Any]:
        with self.lock:
            self.token_requests.append(form)
            grant = self.grants.pop(form.get("code", ""), None)
        if not self._client_ok(form, authorization):
            return 401, {}, {"error": "invalid_client"}
        if grant is None or form.get("redirect_uri") != grant.redirect_uri:
            return 400, {}, {"error": "invalid_grant", "error_description": "unknown code"}
        if not _pkce_ok(grant, form.get("code_verifier")):
            return 400, {}, {"error": "invalid_grant", "error_description": "PKCE check failed"}
        access_token = secrets.token_urlsafe(24)
        id_token = self._id_token(grant)
        with self.lock:
            self.issued += [access_token, id_token]
        body = {"access_token": access_token, "token_type": "Bearer", "id_token": id_token}
        return 200, {}, {**body, "expires_in": 300}

    def _client_ok(self, form: dict[str, str], authorization: str) -> bool:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "basic":
            given = base64.b64decode(value).decode()
            return given == f"{CLIENT_ID}:{CLIENT_SECRET}"
        return form.get("client_id") == CLIENT_ID and form.get("client_secret") == CLIENT_SECRET

    def _id_token(self, grant: Grant) -> str:
        now = int(time.time())
        user = grant.user
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": user.sub,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": grant.nonce,
            "groups": user.groups,
        }
        if user.preferred_username:
            claims["preferred_username"] = user.preferred_username
        if user.email:
            claims["email"] = user.email
        claims.update(self.id_token_claims)
        key = self.key
        if self.bad_signature:
            key = RSAKey.generate_key(2048, parameters={"kid": self.key.kid})
        return jwt.encode({"alg": "RS256", "kid": self.key.kid}, claims, key)


def _pkce_ok(grant: Grant, verifier: str | None) -> bool:
    if grant.challenge is None or grant.method != "S256" or not verifier:
        return False
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=") == grant.challenge


def _handler(provider: StandInProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            if parts.path == "/.well-known/openid-configuration":
                self._answer(200, {}, provider.discovery())
            elif parts.path == "/jwks":
                self._answer(200, {}, {"keys": [provider.key.as_dict(private=False)]})
            elif parts.path == "/authorize":
                self._answer(*provider.authorize(query))
            else:
                self._answer(404, {}, {"error": "not_found"})

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length", "0"))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            if urlsplit(self.path).path == "/token":
                self._answer(*provider.token(form, self.headers.get("Authorization", "")))
            else:
                self._answer(404, {}, {"error": "not_found"})

        def _answer(self, status: int, headers: dict[str, str], body: Any) -> None:
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
            self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    return Handler


@contextmanager
def running(key: RSAKey) -> Iterator[StandInProvider]:
    """The stand-in serving on a free port of 127.0.0.1 until the block ends."""
    provider = StandInProvider(key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(provider))
    provider.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="oidc-standin",
        daemon=True,
    )
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def new_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "standin-1"})
