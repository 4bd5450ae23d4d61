"""The replicas bench's exactly-once checks (bench/replicas_check.py) on handcrafted
records: they pass clean records and catch an overlap and a double apply, so a bench run
whose checks pass has checked something."""

from __future__ import annotations

from pathlib import Path

from bench.replicas_check import check_engine_log, check_records, spans_of
from infra_gitops.models import Commit, Run, RunKind, RunStatus

ONE, TWO = "1" * 40, "2" * 40


def _run(
    run_id: str,
    stack: str,
    kind: RunKind,
    status: RunStatus,
    sha: str,
    started: str,
    finished: str | None,
) -> Run:
    day = "2026-12-01T10:00:"
    return Run(
        id=run_id,
        stack=stack,
        kind=kind,
        trigger="bench",
        status=status,
        commit=Commit(sha, "bench", "bench@example.com", f"{day}00+00:00", "m"),
        started_at=f"{day}{started}+00:00",
        finished_at=f"{day}{finished}+00:00" if finished else None,
    )


def _clean() -> list[Run]:
    """A stack applied at two commits with a drift check between; another stack at the
    same time; an apply interrupted (noticed late: its end overlaps the next run) and the
    stack planned and applied again."""
    return [
        _run("r1", "a", RunKind.APPLY, RunStatus.APPLIED, ONE, "01.000", "02.000"),
        _run("r2", "a", RunKind.DRIFT, RunStatus.NO_CHANGES, ONE, "02.000", "03.000"),
        _run("r3", "a", RunKind.APPLY, RunStatus.APPLIED, TWO, "04.000", "05.000"),
        _run("r4", "b", RunKind.APPLY, RunStatus.APPLIED, ONE, "01.500", "02.500"),
        _run("r5", "c", RunKind.APPLY, RunStatus.INTERRUPTED, ONE, "01.000", "09.000"),
        _run("r6", "c", RunKind.APPLY, RunStatus.APPLIED, ONE, "03.000", "04.000"),
        _run("r7", "d", RunKind.APPLY, RunStatus.SKIPPED, ONE, "01.000", "01.100"),
        _run("r8", "d", RunKind.APPLY, RunStatus.APPLIED, ONE, "02.000", "03.000"),
    ]


def test_clean_records_pass_and_interrupted_runs_are_counted() -> None:
    check = check_records(spans_of(_clean(), "r0"))

    assert check.ok, check.problems()
    assert check.runs == 8
    assert [s.run_id for s in check.interrupted] == ["r5"]
    assert [s.run_id for s in check.replanned] == ["r6"]


def test_two_runs_of_a_stack_at_once_are_an_overlap() -> None:
    runs = [
        *_clean(),
        _run("x1", "a", RunKind.DRIFT, RunStatus.NO_CHANGES, ONE, "04.500", "04.600"),
        # Left running: anything of its stack after it overlaps.
        _run("x2", "b", RunKind.DRIFT, RunStatus.RUNNING, ONE, "06.000", None),
        _run("x3", "b", RunKind.DRIFT, RunStatus.NO_CHANGES, ONE, "08.000", "08.100"),
    ]

    check = check_records(spans_of(runs, "r0"))

    assert not check.ok
    assert {(a.run_id, b.run_id) for a, b in check.overlaps} == {("r3", "x1"), ("x2", "x3")}
    assert check.double_applies == ()
    assert [s.run_id for s in check.still_running] == ["x2"]


def test_the_same_stack_name_in_two_repos_is_two_stacks() -> None:
    one = [_run("p1", "a", RunKind.APPLY, RunStatus.APPLIED, ONE, "01.000", "02.000")]
    other = [_run("q1", "a", RunKind.APPLY, RunStatus.APPLIED, TWO, "01.000", "02.000")]

    assert check_records([*spans_of(one, "r0"), *spans_of(other, "r1")]).ok
    assert not check_records([*spans_of(one, "r0"), *spans_of(other, "r0")]).ok


def test_a_second_apply_of_a_stack_at_one_commit_is_a_double_apply() -> None:
    runs = [
        *_clean(),
        # Not at the same time as r3, and even finding no changes it is a second start.
        _run("y1", "a", RunKind.APPLY, RunStatus.NO_CHANGES, TWO, "06.000", "07.000"),
        # After a failure too: a failed apply is not retried automatically either.
        _run("y2", "b", RunKind.APPLY, RunStatus.FAILED, TWO, "03.000", "04.000"),
        _run("y3", "b", RunKind.HEAL, RunStatus.APPLIED, TWO, "05.000", "06.000"),
    ]

    check = check_records(spans_of(runs, "r0"))

    assert not check.ok
    assert check.overlaps == ()
    assert {(a.run_id, b.run_id) for a, b in check.double_applies} == {("r3", "y1"), ("y2", "y3")}


def test_the_engine_log_catches_applies_at_once_and_applied_twice(tmp_path: Path) -> None:
    log = tmp_path / "applies.log"
    log.write_text(
        "\n".join(
            [
                # r0/s1 version 1: killed mid-apply at 12.0, applied again after: fine.
                "apply-start r0/s1 1 101 10.0",
                "apply-start r0/s1 1 102 13.0",
                "apply-end r0/s1 1 102 14.0",
                # r0/s2 version 1: two applies at once, both to the end.
                "apply-start r0/s2 1 201 10.0",
                "apply-start r0/s2 1 202 10.5",
                "apply-end r0/s2 1 201 11.0",
                "apply-end r0/s2 1 202 11.5",
                # pid 301 reused by a later apply of another stack: two applies.
                "apply-start r0/s3 1 301 20.0",
                "apply-end r0/s3 1 301 21.0",
                "apply-start r0/s4 1 301 22.0",
                "apply-end r0/s4 1 301 23.0",
            ]
        )
        + "\n"
    )

    check = check_engine_log(log, killed_at={101: 12.0})

    assert (check.applies, check.completed, check.killed) == (6, 5, 1)
    assert check.overlaps == ("r0/s2: engine pids 201 and 202 applied at once",)
    assert check.double_applies == ("r0/s2 version 1 applied to the end 2 times",)
    # The killed apply counts as running until it was killed.
    late_kill = check_engine_log(log, killed_at={101: 13.5})
    assert "r0/s1: engine pids 101 and 102 applied at once" in late_kill.overlaps
