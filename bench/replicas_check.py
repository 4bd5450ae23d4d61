"""The replicas bench's checks of exactly-once, from what was recorded:

- the run records (every replica writes them to the one database): no stack ran twice at
  once (two runs of a stack whose times overlap), and no apply started twice for a
  (stack, commit). An apply interrupted by its replica's death is never retried as is: the
  stack is planned again, and that new decision may apply the same commit once more; such
  a second apply after an interrupted one is counted (`replanned`), not a double apply.
  An interrupted run's finish time is when the death was noticed, not when its replica
  died, so only its start is checked against the other runs of the stack.
- the stand-in engine's log (bench/generate.py: `apply-start`/`apply-end` lines with the
  engine's pid): no two applies of a stack ran at once and no (stack, version) was applied
  to the end twice. An apply whose process the bench killed ends at its kill time.

A checker that cannot fail proves nothing: tests/bench/test_replicas_check.py feeds it
records with an overlap and with a double apply.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from infra_gitops.models import Run, RunKind, RunStatus

_APPLYING = (RunKind.APPLY, RunKind.HEAL, RunKind.DESTROY)
_FOREVER = float("inf")


@dataclass(frozen=True)
class Span:
    """One run record reduced to what the checks need; `stack` names the repo too."""

    stack: str
    run_id: str
    kind: RunKind
    status: RunStatus
    commit: str
    started: float
    finished: float | None
    """None while running (a run left open counts as lasting for ever)."""

    def __str__(self) -> str:
        return f"{self.run_id} ({self.kind} {self.status} of {self.stack} at {self.commit[:10]})"


@dataclass(frozen=True)
class RecordCheck:
    runs: int
    overlaps: tuple[tuple[Span, Span], ...]
    double_applies: tuple[tuple[Span, Span], ...]
    interrupted: tuple[Span, ...]
    replanned: tuple[Span, ...]
    """Applies of a (stack, commit) whose earlier apply was interrupted."""
    still_running: tuple[Span, ...]

    @property
    def ok(self) -> bool:
        return not self.overlaps and not self.double_applies

    def problems(self, limit: int = 5) -> list[str]:
        found = [f"overlap: {a} and {b}" for a, b in self.overlaps[:limit]]
        found += [f"double apply: {a} then {b}" for a, b in self.double_applies[:limit]]
        return found


@dataclass(frozen=True)
class EngineCheck:
    applies: int
    """apply-start lines."""
    completed: int
    killed: int
    """Applies whose engine process the bench killed before they ended."""
    overlaps: tuple[str, ...] = field(default=())
    double_applies: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.overlaps and not self.double_applies


def spans_of(runs: Iterable[Run], repo: str) -> list[Span]:
    """Spans of one repo's run records (stack names are qualified with repo)."""
    return [
        Span(
            stack=f"{repo}/{run.stack}",
            run_id=run.id,
            kind=run.kind,
            status=run.status,
            commit=run.commit.sha,
            started=_seconds(run.started_at),
            finished=_seconds(run.finished_at) if run.finished_at else None,
        )
        for run in runs
    ]


def check_records(spans: Iterable[Span]) -> RecordCheck:
    by_stack: dict[str, list[Span]] = defaultdict(list)
    count = 0
    for span in spans:
        by_stack[span.stack].append(span)
        count += 1
    overlaps: list[tuple[Span, Span]] = []
    doubles: list[tuple[Span, Span]] = []
    replanned: list[Span] = []
    for stack_spans in by_stack.values():
        stack_spans.sort(key=lambda s: s.started)
        overlaps += _overlaps(stack_spans)
        more_doubles, more_replanned = _applies_twice(stack_spans)
        doubles += more_doubles
        replanned += more_replanned
    every = [s for spans_ in by_stack.values() for s in spans_]
    return RecordCheck(
        runs=count,
        overlaps=tuple(overlaps),
        double_applies=tuple(doubles),
        interrupted=tuple(s for s in every if s.status is RunStatus.INTERRUPTED),
        replanned=tuple(replanned),
        still_running=tuple(s for s in every if s.status is RunStatus.RUNNING),
    )


def _overlaps(spans: list[Span]) -> list[tuple[Span, Span]]:
    """Pairs of one stack's runs (sorted by start) that ran at once. An interrupted run
    is checked by its start only (its recorded end is when its death was noticed)."""
    found = []
    open_until: Span | None = None  # the run, so far, that ends last
    for span in spans:
        if open_until is not None and span.started < _end(open_until):
            found.append((open_until, span))
        if span.status is RunStatus.INTERRUPTED:
            continue
        if open_until is None or _end(span) > _end(open_until):
            open_until = span
    return found


def _end(span: Span) -> float:
    return _FOREVER if span.finished is None else span.finished


def _applies_twice(spans: list[Span]) -> tuple[list[tuple[Span, Span]], list[Span]]:
    """(double applies, applies after an interrupted one) among one stack's runs."""
    by_commit: dict[str, list[Span]] = defaultdict(list)
    for span in spans:
        if span.kind in _APPLYING and span.status is not RunStatus.SKIPPED:
            by_commit[span.commit].append(span)
    doubles, replanned = [], []
    for applies in by_commit.values():
        for earlier, later in zip(applies, applies[1:], strict=False):
            if earlier.status is RunStatus.INTERRUPTED:
                replanned.append(later)
            else:
                doubles.append((earlier, later))
    return doubles, replanned


@dataclass
class _EngineApply:
    stack: str
    version: str
    pid: int
    started: float
    ended: float | None = None


def check_engine_log(log: Path, killed_at: Mapping[int, float]) -> EngineCheck:
    """The stand-in engine's account: `apply-start|apply-end STACK VERSION PID TIME` lines;
    killed_at maps the pids the bench killed to when. Read in order: an end closes the
    open start of its pid (pids are reused over a long run)."""
    applies: list[_EngineApply] = []
    open_by_pid: dict[int, _EngineApply] = {}
    for line in log.read_text().splitlines() if log.exists() else []:
        event, stack_id, version_id, pid_text, at = line.split()
        pid = int(pid_text)
        if event == "apply-start":
            open_by_pid[pid] = _EngineApply(stack_id, version_id, pid, float(at))
            applies.append(open_by_pid[pid])
        elif event == "apply-end" and pid in open_by_pid:
            open_by_pid.pop(pid).ended = float(at)
    by_stack: dict[str, list[tuple[float, float, str, int]]] = defaultdict(list)
    completed: dict[tuple[str, str], int] = defaultdict(int)
    killed = 0
    for apply in applies:
        if apply.ended is not None:
            completed[(apply.stack, apply.version)] += 1
            end = apply.ended
        elif killed_at.get(apply.pid, -_FOREVER) >= apply.started:
            killed += 1
            end = killed_at[apply.pid]
        else:
            end = _FOREVER  # neither ended nor killed: still running, or lost
        by_stack[apply.stack].append((apply.started, end, apply.version, apply.pid))
    overlaps = []
    for name, stack_applies in by_stack.items():
        stack_applies.sort()
        last_end, last_pid = -_FOREVER, 0  # the apply so far that ends last
        for start, stop, _, engine_pid in stack_applies:
            if start < last_end:
                overlaps.append(f"{name}: engine pids {last_pid} and {engine_pid} applied at once")
            if stop > last_end:
                last_end, last_pid = stop, engine_pid
    doubles = tuple(
        f"{stack} version {version} applied to the end {n} times"
        for (stack, version), n in completed.items()
        if n > 1
    )
    return EngineCheck(
        applies=len(applies),
        completed=sum(completed.values()),
        killed=killed,
        overlaps=tuple(overlaps),
        double_applies=doubles,
    )


def _seconds(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()
