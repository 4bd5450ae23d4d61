"""Coordination of daemon replicas sharing one PostgreSQL database.

Several identical replicas pull work from the database instead of owning a static
share of the stacks: per-stack locks (`locks`), a queue of stack operations
(`queue`), one leader that polls Git and decides (`leader`), drift checks as due times
any replica claims (`drift`), poll requests from webhooks hitting any replica (`poll`)
and the list of live replicas (`replicas`).

Every table is keyed by a *scope*: one repository branch, so several repositories may
share a database. The component's tables are created by `migrate(url)`, which every
class here assumes was called once (replicas starting together migrate once).
"""

from __future__ import annotations

import hashlib

from infra_gitops import postgres
from infra_gitops.coordination.schema import STEPS
from infra_gitops.postgres import DatabaseUrl

COMPONENT = "coordination"
"""This package's name for postgres.migrate: it creates only its own tables."""


def scope_for(repo_url_display: str, branch: str) -> str:
    """A short, stable name for one branch of one repository (pass the URL without its
    credentials: the same repository must get the same scope from every replica)."""
    digest = hashlib.sha256(f"{repo_url_display}\n{branch}".encode()).hexdigest()
    return digest[:16]


def migrate(url: DatabaseUrl) -> int:
    """Create or upgrade the coordination tables; returns the version found."""
    return postgres.migrate(url, COMPONENT, STEPS)
