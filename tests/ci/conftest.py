"""Fixtures of the CI tests: the stand-in GitHub/GitLab API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ci_standin import StandinState, standin_api


@pytest.fixture
def api() -> Iterator[tuple[str, StandinState]]:
    with standin_api() as served:
        yield served
