"""What a run-store back end gives the shared RunStore logic."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from infra_gitops.postgres import DatabaseUrl


class Transaction(Protocol):
    """One transaction of a back end. Statements use `?` placeholders on both back ends;
    rows are read by column name."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any: ...


class RecordsBackend(Protocol):
    where: str
    """The database for messages: a path, or a URL without its password."""
    database_url: DatabaseUrl | None
    lease_lost: threading.Event
    id_list_sql: str
    """A SELECT of one column: the values of list_param(values), for `x IN (...)`."""
    recent_runs_sql: str
    """The newest runs of each stack in list_param(stacks), params (stacks, per_stack)."""

    @property
    def owner_token(self) -> str: ...

    def list_param(self, values: list[str]) -> Any: ...

    def transaction(self, *, write: bool) -> AbstractContextManager[Transaction]: ...

    def check(self, tx: Transaction) -> None: ...

    def dead_owner_runs(self, tx: Transaction, running: Sequence[Any]) -> list[Any]:
        """Of the running rows (id, owner_pid, owner_host, owner_start, owner_token),
        those whose owner is known to be gone."""
        ...

    def renew_lease(self) -> bool: ...

    def close(self) -> None: ...


def gone_message(where: str, what: str, *, restore: str) -> str:
    return (
        f"the run records {where} {what} while in use; refusing to go on with another "
        f"history (every stack would look new): restore {restore}, or restart to start "
        "from the database now there"
    )
