"""Roles in the spirit of Argo CD's RBAC: what each role may do, on which stacks.

A grant is a role scoped to stacks by name or glob ("operator:app-*"); a principal holds
grants and `can(principal, action, stack)` answers. Deny by default: an action no grant
covers, an unknown action or role, a principal with no grants -> no.

Actions that concern no stack (managing accounts and tokens) need a grant whose scope is
every stack ("admin" or "admin:*"): an admin of app-* must not create an account with
rights over the rest.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from infra_gitops.stacknames import matches


class Action(StrEnum):
    """Everything a person or script may ask of the controller, named once."""

    VIEW = "view"
    """See stacks, their status, diffs, runs and logs."""
    SYNC = "sync"
    """Plan and apply the desired commit now."""
    REFRESH = "refresh"
    """A drift check now."""
    HEAL = "heal"
    """Apply the Git state back over drift."""
    ROLLBACK = "rollback"
    PAUSE = "pause"
    """Pause auto-apply."""
    RESUME = "resume"
    """Resume auto-apply."""
    PRUNE = "prune"
    """Confirm the prune of a stack gone from the manifest."""
    MANAGE_ACCOUNTS = "accounts"
    MANAGE_TOKENS = "tokens"
    """Create, list and revoke any account's API tokens."""


GLOBAL_ACTIONS = frozenset({Action.MANAGE_ACCOUNTS, Action.MANAGE_TOKENS})
"""Actions on no stack: only a grant over every stack ("*") allows them."""


class Role(StrEnum):
    READONLY = "readonly"
    OPERATOR = "operator"
    ADMIN = "admin"


ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.READONLY: frozenset({Action.VIEW}),
    Role.OPERATOR: frozenset({Action.VIEW, Action.SYNC, Action.REFRESH, Action.HEAL}),
    Role.ADMIN: frozenset(Action),
}
"""What each role allows; a higher role includes the lower ones."""

EVERY_STACK = "*"
_PATTERN = re.compile(r"[A-Za-z0-9._*?\[\]/@-]+")


class GrantError(ValueError):
    """A grant that cannot be parsed; the message names it and the choices."""


@dataclass(frozen=True)
class Grant:
    """One role over the stacks whose names match `stacks` (an fnmatch glob, case
    sensitive as stack names are); a stack's pattern covers its environments' instances
    (stacknames.matches), and app@prod or *@prod names one environment."""

    role: Role
    stacks: str = EVERY_STACK

    @classmethod
    def parse(cls, text: str) -> Grant:
        """ "ROLE" (every stack) or "ROLE:GLOB"."""
        role_text, _, stacks = text.strip().partition(":")
        try:
            role = Role(role_text.strip())
        except ValueError:
            raise GrantError(
                f"role {text!r}: expected ROLE or ROLE:GLOB with ROLE one of "
                f"{', '.join(Role)} (e.g. operator:app-*)"
            ) from None
        stacks = stacks.strip() or EVERY_STACK
        if not _PATTERN.fullmatch(stacks):
            raise GrantError(
                f"role {text!r}: the stack pattern may hold letters, digits, . _ - / @ and "
                "the glob characters * ? [ ]"
            )
        return cls(role, stacks)

    def __str__(self) -> str:
        return f"{self.role}:{self.stacks}"

    def allows(self, action: Action, stack: str | None) -> bool:
        if action not in ROLE_ACTIONS[self.role]:
            return False
        if stack is None:
            return self.stacks == EVERY_STACK
        return matches(self.stacks, stack)


@dataclass(frozen=True)
class Principal:
    """Who is asking, as authenticated: a local account (by password, session or API
    token) or a single sign-on user (grants from their groups)."""

    name: str
    grants: tuple[Grant, ...]
    via: str
    """How they proved it: "password", "session", "token" or "oidc"."""


def can(principal: Principal | None, action: Action | str, stack: str | None = None) -> bool:
    """Whether principal may do action on stack (None: an action on no stack, such as
    managing accounts). Deny by default."""
    if principal is None:
        return False
    try:
        wanted = Action(action)
    except ValueError:
        return False
    if (stack is None) != (wanted in GLOBAL_ACTIONS):
        # A stack action asked without a stack, or an account action with one: a caller's
        # mistake, never a reason to allow.
        return False
    return any(grant.allows(wanted, stack) for grant in principal.grants)


def parse_grants(texts: Iterable[str]) -> tuple[Grant, ...]:
    """Grants from "ROLE[:GLOB]" texts, duplicates dropped, order kept."""
    grants: list[Grant] = []
    for text in texts:
        grant = Grant.parse(text)
        if grant not in grants:
            grants.append(grant)
    return tuple(grants)
