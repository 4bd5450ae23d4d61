"""What the auth library raises. Messages never hold a password, token or session id."""

from __future__ import annotations

from enum import StrEnum

from infra_gitops.errors import GitOpsError


class AuthError(GitOpsError):
    """Bad input to an account or token operation (an unknown account, a name taken, an
    expiry too long); the CLI prints it and exits 1."""


class Reason(StrEnum):
    """Why a credential was refused. The web layer answers 401 to every one of them and
    shows a person one generic message ("wrong name or password", "invalid token"):
    the reason is for its log and metrics, where it tells an attack from a slip."""

    BAD_CREDENTIALS = "bad_credentials"
    """An unknown account or a wrong password (told apart by nobody, not even the time)."""
    LOCKED = "locked"
    """Too many failed logins: refused, even with the right password, until locked_until."""
    DISABLED = "disabled"
    UNKNOWN_TOKEN = "unknown_token"
    MALFORMED = "malformed"
    EXPIRED = "expired"
    REVOKED = "revoked"


class Refused(GitOpsError):
    """A login or an API token refused; the server maps it to 401."""

    http_status = 401

    def __init__(self, reason: Reason, detail: str = "") -> None:
        self.reason = reason
        super().__init__(f"refused ({reason}){': ' + detail if detail else ''}")
