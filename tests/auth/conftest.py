"""An auth store on each back end (SQLite in a temp state dir, a fresh PostgreSQL
database) with a clock the test moves."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from infra_gitops.auth.store import AuthStore
from infra_gitops.postgres import DatabaseUrl


class MovableClock:
    """The store's clock: time passes when the test says so (no sleeping)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def auth(
    tmp_path: Path, records_url: DatabaseUrl | None, clock: MovableClock
) -> Iterator[AuthStore]:
    with AuthStore.open(tmp_path / "state", records_url, clock=clock) as store:
        yield store
