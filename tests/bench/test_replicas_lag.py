"""The replicas bench's drift lag: a drift run's start minus the due time it was claimed
at, from the due times sampled in the schedule table (bench/replicas.py DueWatch)."""

from __future__ import annotations

from bench.replicas import DueWatch
from bench.replicas_check import Span
from infra_gitops.models import RunKind, RunStatus


def _span(stack: str, kind: RunKind, started: float) -> Span:
    return Span(stack, f"run-{started}", kind, RunStatus.NO_CHANGES, "1" * 40, started, started + 1)


def test_each_drift_run_lags_behind_the_latest_due_time_seen_before_it() -> None:
    watch = DueWatch(seen={("r0", "s0"): {100.0, 160.0}, ("r1", "s0"): {130.0}})
    spans = [
        _span("r0/s0", RunKind.DRIFT, 100.5),  # claimed 0.5 s after due at 100
        _span("r0/s0", RunKind.DRIFT, 163.0),  # the next due time, 160
        _span("r1/s0", RunKind.DRIFT, 131.0),  # the same stack name in another repo
        _span("r0/s0", RunKind.APPLY, 170.0),  # not a drift check
        _span("r0/s1", RunKind.DRIFT, 150.0),  # no due time seen: not counted
        _span("r1/s0", RunKind.DRIFT, 120.0),  # before any due time seen: not counted
    ]

    assert watch.lags(spans) == [(100.5, 0.5), (163.0, 3.0), (131.0, 1.0)]
