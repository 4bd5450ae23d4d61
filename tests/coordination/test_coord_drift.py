"""The shared drift schedule on a real PostgreSQL: the leader's sync follows the
manifest; concurrent claimers each get a due check once per interval."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from datetime import datetime, timedelta

import pytest

from infra_gitops import postgres
from infra_gitops.coordination.drift import DriftSchedule, DueCheck
from infra_gitops.postgres import DatabaseUrl

SCOPE = "repo-a"


def _due_times(url: DatabaseUrl) -> dict[str, datetime]:
    with postgres.connection(url) as conn:
        rows = conn.execute("SELECT stack, due_at FROM drift_schedule WHERE scope = %s", (SCOPE,))
        return {r["stack"]: r["due_at"] for r in rows.fetchall()}


def _now(url: DatabaseUrl) -> datetime:
    with postgres.connection(url) as conn:
        row = conn.execute("SELECT now() AS now").fetchone()
    assert row is not None
    return row["now"]


def test_sync_follows_the_manifest(url: DatabaseUrl) -> None:
    schedule = DriftSchedule(url, SCOPE)
    assert schedule.next_due() is None
    before = _now(url)
    schedule.sync({"network": 100, "app": 100})
    first = _due_times(url)
    for stack in ("network", "app"):  # first due one interval away, jittered by <= 10%
        assert before + timedelta(seconds=100) <= first[stack]
        assert first[stack] <= _now(url) + timedelta(seconds=110)
    assert schedule.next_due() == min(first.values())
    assert schedule.claim_due("r1", 10) == []  # nothing due yet

    schedule.sync({"network": 100, "app": 3000, "storage": 50})
    second = _due_times(url)
    assert second["network"] == first["network"]  # unchanged interval: same due time
    assert second["app"] >= before + timedelta(seconds=3000)  # changed: rescheduled
    assert "storage" in second
    assert schedule.intervals() == {"network": 100, "app": 3000, "storage": 50}

    DriftSchedule(url, "repo-b").sync({"network": 10})  # another repository's own row
    schedule.sync({"storage": 50})
    assert set(_due_times(url)) == {"storage"}
    assert DriftSchedule(url, "repo-b").intervals() == {"network": 10}
    with pytest.raises(ValueError, match="'bad'"):
        schedule.sync({"bad": 0})


def test_each_due_stack_is_claimed_once_per_interval_by_three_claimers(url: DatabaseUrl) -> None:
    interval, stacks = 1.0, [f"stack-{n:02d}" for n in range(30)]
    DriftSchedule(url, SCOPE).sync(dict.fromkeys(stacks, interval))
    with postgres.connection(url) as conn:  # all due now, as after a long wait
        conn.execute("UPDATE drift_schedule SET due_at = now()")
        conn.commit()
    claims: dict[str, list[DueCheck]] = defaultdict(list)
    by_claimer: dict[str, int] = defaultdict(int)
    guard = threading.Lock()
    duration = 4.5
    stop_at = time.monotonic() + duration

    def claimer(token: str) -> None:
        schedule = DriftSchedule(url, SCOPE)
        while time.monotonic() < stop_at:
            got = schedule.claim_due(token, 4)
            with guard:
                for check in got:
                    claims[check.stack].append(check)
                    by_claimer[token] += 1
            time.sleep(0.02 if got else 0.05)  # as a worker busy with the checks would

    threads = [threading.Thread(target=claimer, args=(f"replica-{n}",)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert set(claims) == set(stacks)
    for stack, checks in claims.items():
        due = sorted(c.due_at for c in checks)
        assert len(set(due)) == len(due), f"{stack}: one due time claimed twice"
        gaps = [(b - a).total_seconds() for a, b in zip(due, due[1:], strict=False)]
        assert all(gap >= interval for gap in gaps), f"{stack}: claimed within an interval"
        # ~ elapsed / interval: the first at once, then one per interval (+ jitter).
        assert 3 <= len(due) <= 5, f"{stack}: {len(due)} checks in {duration}s"
        assert all(c.lag_s < 1.0 for c in checks[1:])
    assert len(by_claimer) == 3 and min(by_claimer.values()) > 0  # work spread
