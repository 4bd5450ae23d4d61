"""The benchmark of issue 10: daemon replicas on one PostgreSQL, as real processes.

    python -m bench.replicas           # 4 x 2,500 stacks at 1, 2, 4 replicas; chaos; Terraform
    python -m bench.replicas --quick   # 2 x 150 stacks: checks the harness in ~2 minutes

A throw-away PostgreSQL cluster (bench/pgcluster.py, the tests' starter) with one
database per repo: a repo's replicas share its database (the run records have no repo
column). Every replica is `infra-gitops daemon --state-dir OWN --repo REMOTE` with the
database URL in $INFRA_GITOPS_DATABASE_URL (bench/replicas_fleet.py).

1. scale: generated repos of stand-in stacks (bench/generate.py: a `/bin/sh` stand-in
   engine declared as each stack's `binary:`, never Terraform, with state shared by the
   replicas as a state bucket would be), all auto-applied. The first sync of every stack
   with one replica per repo; then per fleet size R (1, 2, 4 replicas per repo; resized
   by draining or starting replicas) a commit changing some stacks of every repo:
   - push to its first job queued (the leader's poll and decision), jobs per second
     (its applies over first start to last end), push to all applied;
   - drift lag: a drift run's start minus the due time it was claimed at (due times read
     from the drift schedule table every 0.2 s), p50/p95, for a subset of stacks checked
     every minute, while the change is applied and when idle after it;
   - start latency: a commit changing one stack, the webhook sent to a replica that
     does not lead; push to the first run of that commit started, and to its apply's end;
   - the record checks (bench/replicas_check.py): no stack ran twice at once, no apply
     started twice per (stack, commit), from the records and from the stand-in's log.
2. chaos: one repo, 3 replicas, a stand-in apply that takes 1 s; replicas (the leader
   among them) are SIGKILLed with their engine processes mid-apply and restarted; then
   the same checks, the interrupted runs counted, every stack applied at the commit.
3. terraform: 20 real stacks (the embedded Terraform, the sandbox: moto + the Python
   provider, one state bucket) applied by 2 replicas; records checked, boto3 counts.

Not a timed test: the figures depend on the machine (ours has 2 cores for everything:
the database, every replica and every engine process).
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from bench.generate import (
    BenchRepo,
    head_of,
    push_version,
    write_drift_repo,
    write_stand_in_engine,
    write_stand_in_repos,
)
from bench.pgcluster import PostgresServer, remove, start_server
from bench.replicas_check import (
    EngineCheck,
    RecordCheck,
    Span,
    check_engine_log,
    check_records,
    spans_of,
)
from bench.replicas_fleet import Fleet, Replica, descendants, replica_env, wait_for
from infra_gitops import postgres
from infra_gitops.models import Run, RunKind, RunStatus
from infra_gitops.runs import RunStore

T = TypeVar("T")
SECTIONS = ("scale", "chaos", "terraform")


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- records


def read_runs(database_url: str, scratch: Path) -> list[Run]:
    """Every run record in a repo's database (through the store, as `history` reads them)."""
    scratch.mkdir(parents=True, exist_ok=True)
    url = postgres.DatabaseUrl.parse(database_url)
    with RunStore.open(scratch, database_url=url) as store:
        return store.list(limit=None)


def due_times(database_url: str) -> dict[str, datetime]:
    """The drift schedule's due time of every stack of the database."""
    url = postgres.DatabaseUrl.parse(database_url)
    with postgres.connection(url, autocommit=True) as conn:
        # Only the stacks checked often: the daily ones are never due during the bench.
        rows = conn.execute(
            "SELECT stack, due_at FROM drift_schedule WHERE interval_s < 3600"
        ).fetchall()
    return {row["stack"]: row["due_at"] for row in rows}


@dataclass
class DueWatch:
    """Every due time seen per (repo, stack), sampled from the drift schedule tables."""

    seen: dict[tuple[str, str], set[float]] = field(default_factory=dict)

    def sample(self, repo: str, database_url: str) -> None:
        try:
            dues = due_times(database_url)
        except postgres.DatabaseError:
            return  # not created yet (no leader yet), or the database restarting
        for stack, due in dues.items():
            self.seen.setdefault((repo, stack), set()).add(due.timestamp())

    def lags(self, spans: list[Span]) -> list[tuple[float, float]]:
        """(start, lag) of every drift run: its start minus the latest due time seen for
        its stack at or before that start."""
        found = []
        for span in spans:
            if span.kind is not RunKind.DRIFT:
                continue
            repo, stack = span.stack.split("/", 1)
            dues = [d for d in self.seen.get((repo, stack), ()) if d <= span.started]
            if dues:
                found.append((span.started, span.started - max(dues)))
        return found


# ---------------------------------------------------------------- 1. scale


@dataclass(frozen=True)
class ScaleStep:
    """One fleet size: a commit changing some stacks of every repo, then idle drift."""

    replicas: int
    changed: int
    jobs_per_s: float
    change_s: float
    """Push to the last changed stack applied."""
    decide_s: list[float]
    """Per repo: push to the commit's first job queued (the leader's poll and decision)."""
    lag_busy: list[float]
    lag_idle: list[float]
    start_s: list[float]
    applied_s: list[float]


@dataclass(frozen=True)
class ScaleResult:
    repos: int
    stacks: int
    first_replicas: int
    first_sync_s: float
    """Replicas started to every stack applied (start-up, election, the pass included)."""
    first_jobs_per_s: float
    steps: list[ScaleStep]
    records: RecordCheck
    engine: EngineCheck
    failed: tuple[str, ...]
    """Failed runs (a stand-in never fails: these are the controller's)."""


@dataclass(frozen=True)
class _StepMarks:
    replicas: int
    changed: int
    commits: frozenset[str]
    pushed: float
    applied: float
    idle_until: float
    pushes: list[tuple[float, float, float]]
    decided: list[float]


def measure_scale(
    root: Path,
    server: PostgresServer,
    *,
    counts: list[int],
    repos: int,
    stacks_per_repo: int,
    change_per_repo: int,
    drift_stacks: int,
    drift_interval: str,
    idle_s: float,
    parallelism: int,
    sync_timeout: float,
) -> ScaleResult:
    """The first sync of every stack with one replica per repo, then for each fleet size a
    commit changing `change_per_repo` stacks of each repo (jobs/s, drift lag while busy),
    `idle_s` of drift checks alone, and one push of one stack per repo (start latency).
    The fleet is resized between steps as an operator would: replicas stopped (SIGTERM,
    a drain) or started; the others carry on."""
    root.mkdir(parents=True)
    engine_log = root / "applies.log"
    engine = write_stand_in_engine(
        root / "stand-in-terraform", state_dir=root / "applied", log=engine_log
    )
    say(f"scale: writing {repos} x {stacks_per_repo:,} stand-in stacks ...")
    made = write_stand_in_repos(
        root / "repos",
        repos=repos,
        stacks_per_repo=stacks_per_repo,
        engine=engine,
        drift_stacks=drift_stacks,
        drift_interval=drift_interval,
    )
    databases = {repo.name: server.create_database() for repo in made}
    first_commits = frozenset(head_of(repo) for repo in made)
    fleet = Fleet(root, replica_env())
    args = ("--poll-interval", "600", "--parallelism", str(parallelism))
    most = max(counts)
    by_repo = {
        repo.name: [
            fleet.add(f"{repo.name}-{i}", repo.name, str(repo.remote), databases[repo.name], args)
            for i in range(most)
        ]
        for repo in made
    }
    watch = DueWatch()
    total = repos * stacks_per_repo

    def sample() -> None:
        for repo in made:
            watch.sample(repo.name, databases[repo.name])

    marks: list[_StepMarks] = []
    try:
        started = time.time()
        first = [members[0] for members in by_repo.values()]
        fleet.start(*first)
        say(f"scale: {len(first)} replicas up; first sync of {total:,} stacks ...")
        heads = {repo.name: head_of(repo) for repo in made}

        def synced() -> bool:
            sample()
            return all(
                _settled(databases[name], sha, stacks_per_repo) for name, sha in heads.items()
            )

        wait_for(f"{total:,} stacks applied", synced, sync_timeout, every=0.5)
        first_sync_s = time.time() - started
        say(f"scale: {total:,} stacks done in {first_sync_s:.0f} s")
        version = 1
        for count in counts:
            _resize(fleet, by_repo, count)
            version += 1
            marks.append(
                _step(
                    fleet,
                    made,
                    by_repo,
                    count,
                    version,
                    change_per_repo,
                    engine_log,
                    sample,
                    idle_s,
                    sync_timeout,
                    databases,
                )
            )
            version += 1  # the start-latency pushes
    finally:
        fleet.stop()
    spans: list[Span] = []
    failed: list[str] = []
    for repo in made:
        runs = read_runs(databases[repo.name], root / "read" / repo.name)
        spans += spans_of(runs, repo.name)
        failed += [
            f"{repo.name}/{r.stack} {r.kind} at {r.commit.sha[:10]}: {r.error}"
            for r in runs
            if r.status is RunStatus.FAILED
        ]
    lags = watch.lags(spans)
    steps = []
    for m in marks:
        steps.append(
            ScaleStep(
                replicas=m.replicas,
                changed=m.changed,
                jobs_per_s=_jobs_per_s(spans, m.commits),
                change_s=m.applied - m.pushed,
                decide_s=[at - m.pushed for at in m.decided],
                lag_busy=[lag for at, lag in lags if m.pushed <= at <= m.applied],
                lag_idle=[lag for at, lag in lags if m.applied < at <= m.idle_until],
                start_s=[first - pushed for first, _, pushed in m.pushes],
                applied_s=[ended - pushed for _, ended, pushed in m.pushes],
            )
        )
    return ScaleResult(
        repos=repos,
        stacks=total,
        first_replicas=1,
        first_sync_s=first_sync_s,
        first_jobs_per_s=_jobs_per_s(spans, first_commits),
        steps=steps,
        records=check_records(spans),
        engine=check_engine_log(engine_log, fleet.killed_at),
        failed=tuple(failed),
    )


def _resize(fleet: Fleet, by_repo: dict[str, list[Replica]], count: int) -> None:
    """`count` replicas running per repo: the first ones; the others drained."""
    extra = [r for members in by_repo.values() for r in members[count:]]
    fleet.stop(extra)
    fleet.start(
        *[
            replica
            for members in by_repo.values()
            for replica in members[:count]
            if replica.proc is None or replica.proc.poll() is not None
        ]
    )
    running = [r for members in by_repo.values() for r in members[:count]]
    wait_for("the replicas ready", lambda: all(fleet.ready(r) for r in running), 120, every=0.5)


def _step(
    fleet: Fleet,
    made: list[BenchRepo],
    by_repo: dict[str, list[Replica]],
    count: int,
    version: int,
    changed: int,
    engine_log: Path,
    sample: Callable[[], None],
    idle_s: float,
    timeout: float,
    databases: dict[str, str],
) -> _StepMarks:
    say(f"scale R={count}: a commit changing {changed} stacks per repo ...")
    pushed = time.time()
    commits = {}
    for repo in made:
        sha = push_version(repo, version, changed)
        commits[repo.name] = sha
        _webhook_to_a_follower(fleet, by_repo[repo.name][:count], sha)
    expected = changed * len(made)

    def applied() -> bool:
        sample()
        return all(_settled(databases[name], sha, changed) for name, sha in commits.items())

    wait_for(f"{expected} changed stacks applied", applied, timeout, every=0.2)
    applied_at = time.time()
    decided = [_first_queued(databases[name], sha) for name, sha in commits.items()]
    say(f"scale R={count}: applied in {applied_at - pushed:.0f} s; {idle_s:.0f} s of drift ...")
    idle_until = applied_at + idle_s
    while time.time() < idle_until:
        sample()
        time.sleep(0.2)
    say(f"scale R={count}: start latency, one push per repo ...")
    pushes = [
        _one_push(fleet, repo, by_repo[repo.name][:count], engine_log, version + 1, databases)
        for repo in made
    ]
    return _StepMarks(
        count,
        expected,
        frozenset(commits.values()),
        pushed,
        applied_at,
        idle_until,
        pushes,
        decided,
    )


def _jobs_per_s(spans: list[Span], commits: frozenset[str]) -> float:
    """Apply runs at these commits over first start to last end."""
    applies = [s for s in spans if s.kind is RunKind.APPLY and s.commit in commits]
    ends = [s.finished for s in applies if s.finished is not None]
    if not ends:
        return 0.0
    elapsed = max(ends) - min(s.started for s in applies)
    return len(applies) / elapsed if elapsed > 0 else 0.0


def _webhook_to_a_follower(fleet: Fleet, replicas: list[Replica], sha: str) -> None:
    leader = fleet.leader(replicas)
    target = next((r for r in replicas if r is not leader), replicas[0])
    fleet.send_push(target, sha)


def _one_push(
    fleet: Fleet,
    repo: BenchRepo,
    replicas: list[Replica],
    engine_log: Path,
    version: int,
    databases: dict[str, str],
) -> tuple[float, float, float]:
    """(first run of the commit started, its apply ended, pushed) as time.time()."""
    stack = repo.stacks[0]
    sha = push_version(repo, version, stacks=1)
    pushed = time.time()
    _webhook_to_a_follower(fleet, replicas, sha)
    ended = wait_for(
        f"{repo.name}/{stack} at {sha[:10]} applied",
        lambda: _apply_end(engine_log, f"{repo.name}/{stack}", str(version)),
        120,
        every=0.05,
    )
    runs = [
        r
        for r in read_runs(databases[repo.name], fleet.root / "read-push" / repo.name)
        if r.commit.sha == sha and r.stack == stack  # not a drift check at that head
    ]
    first = min(datetime.fromisoformat(r.started_at).timestamp() for r in runs)
    return first, ended, pushed


def _first_queued(database_url: str, sha: str) -> float:
    """When the first job of commit sha was queued (time.time())."""
    url = postgres.DatabaseUrl.parse(database_url)
    with postgres.connection(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT min(enqueued_at) AS first FROM jobs WHERE commit_sha = %s", (sha,)
        ).fetchone()
    assert row is not None and row["first"] is not None
    return float(row["first"].timestamp())


def _settled(database_url: str, sha: str, stacks: int) -> bool:
    """Whether `stacks` stacks have a finished job at commit sha and none is queued or
    running (the queue's own account: a failed job counts as finished)."""
    url = postgres.DatabaseUrl.parse(database_url)
    try:
        with postgres.connection(url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(DISTINCT stack) FILTER (WHERE commit_sha = %s"
                " AND state IN ('done', 'interrupted')) AS finished,"
                " count(*) FILTER (WHERE state IN ('queued', 'running')) AS active FROM jobs",
                (sha,),
            ).fetchone()
    except postgres.DatabaseError:
        return False  # no leader has made the tables yet
    return row is not None and row["finished"] >= stacks and row["active"] == 0


def _apply_end(engine_log: Path, stack: str, version: str) -> float | None:
    for line in engine_log.read_text().splitlines() if engine_log.exists() else []:
        parts = line.split()
        if parts[0] == "apply-end" and parts[1] == stack and parts[2] == version:
            return float(parts[4])
    return None


# ---------------------------------------------------------------- 2. chaos


@dataclass(frozen=True)
class ChaosResult:
    stacks: int
    replicas: int
    kills: int
    leader_kills: int
    processes_killed: int
    converge_s: float
    not_applied: int
    records: RecordCheck
    engine: EngineCheck


def measure_chaos(
    root: Path,
    server: PostgresServer,
    *,
    stacks: int,
    replicas: int,
    kills: int,
    apply_seconds: float,
    timeout: float,
) -> ChaosResult:
    root.mkdir(parents=True)
    engine_log = root / "applies.log"
    applied_dir = root / "applied"
    engine = write_stand_in_engine(
        root / "stand-in-terraform",
        state_dir=applied_dir,
        log=engine_log,
        apply_seconds=apply_seconds,
    )
    (repo,) = write_stand_in_repos(root / "repos", repos=1, stacks_per_repo=stacks, engine=engine)
    database = server.create_database()
    fleet = Fleet(root, replica_env())
    args = ("--poll-interval", "5", "--parallelism", "2")
    members = [
        fleet.add(f"{repo.name}-{i}", repo.name, str(repo.remote), database, args)
        for i in range(replicas)
    ]
    leader_kills = processes = 0
    try:
        started = time.time()
        for replica in members:
            fleet.start(replica)
        say(f"chaos: {replicas} replicas, {stacks} stacks, {kills} SIGKILLs mid-apply ...")
        for n in range(kills):
            # Every other kill is the leader's; each lands while an apply is running.
            leader = fleet.leader(members)
            if n % 2 == 0 and leader is not None:
                chosen = [leader]
            else:
                chosen = [r for r in members if r is not leader]
            victim = wait_for(
                "a replica mid-apply",
                lambda chosen=chosen: next(  # type: ignore[misc]
                    (r for r in chosen if _mid_apply(r, engine_log)), None
                ),
                120,
                every=0.05,
            )
            leader_kills += victim is leader
            processes += fleet.kill(victim)
            say(f"chaos: SIGKILL {victim.name}{' (the leader)' if victim is leader else ''}")
            time.sleep(2.0)
            fleet.start(victim)

        def converged() -> bool:
            return _all_applied(applied_dir, repo, "1")

        wait_for("every stack applied after the kills", converged, timeout, every=0.5)
        converge_s = time.time() - started
        time.sleep(4.0)  # the leader's sweep marks what the dead left running
    finally:
        fleet.stop()
    spans = spans_of(read_runs(database, root / "read"), repo.name)
    return ChaosResult(
        stacks=stacks,
        replicas=replicas,
        kills=kills,
        leader_kills=leader_kills,
        processes_killed=processes,
        converge_s=converge_s,
        not_applied=stacks - _applied_stacks(spans),
        records=check_records(spans),
        engine=check_engine_log(engine_log, fleet.killed_at),
    )


def _mid_apply(replica: Replica, engine_log: Path) -> bool:
    """Whether one of the replica's engine processes has started an apply not ended."""
    running: set[int] = set()
    for line in engine_log.read_text().splitlines() if engine_log.exists() else []:
        event, _, _, pid, _ = line.split()
        if event == "apply-start":
            running.add(int(pid))
        else:
            running.discard(int(pid))
    proc = replica.proc
    if proc is None or proc.poll() is not None:
        return False
    return bool(running & set(descendants(proc.pid)))


def _all_applied(applied_dir: Path, repo: BenchRepo, version: str) -> bool:
    for stack in repo.stacks:
        path = applied_dir / f"{repo.name}_{stack}"
        if not path.exists() or path.read_text().strip() != version:
            return False
    return True


def _applied_stacks(spans: list[Span]) -> int:
    """Stacks with an APPLIED apply run at their (one) commit."""
    return len(
        {s.stack for s in spans if s.kind is RunKind.APPLY and s.status is RunStatus.APPLIED}
    )


# ---------------------------------------------------------------- 3. terraform


@dataclass(frozen=True)
class TerraformResult:
    stacks: int
    replicas: int
    sync_s: float
    applied: int
    per_replica: list[int]
    resources: int
    records: RecordCheck


def measure_terraform(
    root: Path, server: PostgresServer, *, stacks: int, replicas: int, timeout: float
) -> TerraformResult:
    import boto3

    from infra_gitops import sandbox

    root.mkdir(parents=True)
    info = sandbox.up(root / "cloud")
    try:
        repo = root / "repo"
        repo.mkdir()
        names = write_drift_repo(repo, real=stacks, declared=stacks, noop_engine=root / "unused")
        database = server.create_database()
        fleet = Fleet(root, replica_env())
        args = ("--poll-interval", "600", "--parallelism", "2")
        members = []
        for i in range(replicas):
            member = fleet.add(f"tf-{i}", "tf", str(repo), database, args)
            # The one sandbox (emulator, provider mirror, state bucket) for every replica.
            sandbox.sandbox_dir(member.state_dir).symlink_to(sandbox.sandbox_dir(info.state_dir))
            members.append(member)
        try:
            started = time.time()
            for member in members:
                fleet.start(member)
            say(f"terraform: {replicas} replicas applying {stacks} sandbox stacks ...")

            def done() -> list[Run] | None:
                runs = read_runs(database, root / "read")
                closed = [
                    r
                    for r in runs
                    if r.kind is RunKind.APPLY and r.status in (RunStatus.APPLIED, RunStatus.FAILED)
                ]
                return runs if len({r.stack for r in closed}) >= stacks else None

            runs = wait_for(f"{stacks} Terraform stacks applied", done, timeout, every=1.0)
            sync_s = (
                max(
                    datetime.fromisoformat(r.finished_at).timestamp() for r in runs if r.finished_at
                )
                - started
            )
        finally:
            fleet.stop()
        runs = read_runs(database, root / "read")
        applied = {
            r.stack for r in runs if r.kind is RunKind.APPLY and r.status is RunStatus.APPLIED
        }
        per_replica = _jobs_per_claimer(database)
        session = boto3.session.Session(
            aws_access_key_id="test", aws_secret_access_key="test", region_name=info.region
        )
        sqs = session.client("sqs", endpoint_url=info.endpoint)
        ssm = session.client("ssm", endpoint_url=info.endpoint)
        queues = [u for u in sqs.list_queues().get("QueueUrls", []) if "/bench-" in u]
        params = ssm.get_parameters_by_path(Path="/bench/").get("Parameters", [])
        return TerraformResult(
            stacks=len(names),
            replicas=replicas,
            sync_s=sync_s,
            applied=len(applied),
            per_replica=per_replica,
            resources=len(queues) + len(params),
            records=check_records(spans_of(runs, "tf")),
        )
    finally:
        sandbox.down(root / "cloud")


def _jobs_per_claimer(database_url: str) -> list[int]:
    """How many queue jobs each replica (its owner token) ran, most first."""
    url = postgres.DatabaseUrl.parse(database_url)
    with postgres.connection(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT count(*) AS n FROM jobs WHERE claimed_by IS NOT NULL "
            "GROUP BY claimed_by ORDER BY n DESC"
        ).fetchall()
    return [int(row["n"]) for row in rows]


# ---------------------------------------------------------------- the report


@dataclass
class Results:
    scale: ScaleResult | None = None
    chaos: ChaosResult | None = None
    terraform: TerraformResult | None = None
    failures: list[str] = field(default_factory=list)
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    wall_s: float = 0.0


def report(r: Results, command: str) -> str:
    lines = [
        f"`{command}`: {os.cpu_count()} CPUs for everything (PostgreSQL, every replica, every "
        f"engine process), {platform.python_implementation()} {platform.python_version()}; "
        f"load average {_load(r.load_before)} before, {_load(os.getloadavg())} after; "
        f"{r.wall_s / 60:.1f} minutes",
    ]
    if r.scale is not None:
        x = r.scale
        lines += [
            "",
            f"Stand-in engine (a `/bin/sh` script, not Terraform), {x.repos} repos x "
            f"{x.stacks // x.repos:,} stacks = {x.stacks:,}: the first sync with "
            f"{x.first_replicas} replica(s) per repo took {x.first_sync_s:.0f} s from their "
            f"start ({x.first_jobs_per_s:.1f} jobs/s); then per fleet size:",
            "",
            "| replicas per repo | changed stacks | push to first job queued | jobs/s "
            "| push to all applied "
            "| drift lag p50 / p95 while applying | drift lag p50 / p95 idle | drift checks "
            "| push to first run started | push to applied (1 stack) |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for step in x.steps:
            lines.append(
                f"| {step.replicas} | {step.changed:,} | {_median(step.decide_s)} "
                f"| {step.jobs_per_s:.1f} "
                f"| {step.change_s:.0f} s | {_pcts(step.lag_busy)} | {_pcts(step.lag_idle)} "
                f"| {len(step.lag_busy) + len(step.lag_idle)} | {_median(step.start_s)} "
                f"| {_median(step.applied_s)} |"
            )
        lines += [
            "",
            f"Checks over all {x.records.runs:,} run records: overlapping runs of a stack: "
            f"{len(x.records.overlaps)}, applies started twice for a (stack, commit): "
            f"{len(x.records.double_applies)}, interrupted: {len(x.records.interrupted)}, "
            f"left running: {len(x.records.still_running)}; the stand-in's log: "
            f"{x.engine.applies:,} applies, {len(x.engine.overlaps)} at once with another of "
            f"their stack, {len(x.engine.double_applies)} versions applied twice; failed runs: "
            f"{len(x.failed)}.",
            *[f"- failed: {f}" for f in x.failed[:5]],
        ]
    if r.chaos is not None:
        c = r.chaos
        lines += [
            "",
            f"Chaos (stand-in engine, apply 1 s): {c.stacks} stacks, {c.replicas} replicas, "
            f"{c.kills} SIGKILLs mid-apply ({c.leader_kills} of the leader; "
            f"{c.processes_killed} processes with their engines), each restarted 2 s later: "
            f"converged in {c.converge_s:.0f} s; {len(c.records.interrupted)} runs interrupted, "
            f"{len(c.records.replanned)} applied again after an interrupted apply; "
            f"{c.engine.killed} engine applies killed; stacks without an applied run: "
            f"{c.not_applied}; overlaps: {_count(c.records.overlaps, c.engine.overlaps)}; "
            f"double applies: {_count(c.records.double_applies, c.engine.double_applies)}; "
            f"runs left running: {len(c.records.still_running)}.",
        ]
    if r.terraform is not None:
        t = r.terraform
        lines += [
            "",
            f"Real embedded Terraform on the sandbox: {t.stacks} stacks, {t.replicas} replicas: "
            f"all applied in {t.sync_s:.0f} s; {t.applied} applied, {t.resources} resources "
            f"seen by boto3; jobs per replica {t.per_replica}; overlaps: "
            f"{len(t.records.overlaps)}; double applies: {len(t.records.double_applies)}.",
        ]
    problems = []
    if r.scale is not None:
        engine = r.scale.engine
        problems += [f"scale: {p}" for p in r.scale.records.problems()]
        problems += [f"scale: {p}" for p in (*engine.overlaps, *engine.double_applies)][:5]
    if r.chaos is not None:
        problems += [f"chaos: {p}" for p in r.chaos.records.problems()]
        problems += [
            f"chaos: {p}" for p in (*r.chaos.engine.overlaps, *r.chaos.engine.double_applies)
        ][:5]
    if r.terraform is not None:
        problems += [f"terraform: {p}" for p in r.terraform.records.problems()]
    if problems:
        lines += ["", "Exactly-once violations:", *[f"- {p}" for p in problems]]
    if r.failures:
        lines += ["", "Failed (tracebacks on stderr):", *[f"- {f}" for f in r.failures]]
    return "\n".join(lines)


def _pcts(values: list[float]) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return f"{statistics.median(ordered):.2f} / {p95:.2f} s"


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s" if values else "-"


def _count(*found: tuple[Any, ...]) -> str:
    return str(sum(len(f) for f in found))


def _load(load: tuple[float, float, float]) -> str:
    return "/".join(f"{x:.2f}" for x in load)


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # SIGTERM ends the bench through its `finally`s: replicas stopped, cluster removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    only = {part.strip() for part in args.only.split(",") if part.strip()}
    unknown = only - set(SECTIONS)
    if unknown:
        sys.exit(f"--only: unknown section(s) {sorted(unknown)}; known: {', '.join(SECTIONS)}")
    quick = args.quick
    repos = args.repos or (2 if quick else 4)
    per_repo = args.stacks_per_repo or (150 if quick else 2500)
    counts = [int(x) for x in (args.replicas or ("1,2" if quick else "1,2,4")).split(",")]
    results = Results(load_before=os.getloadavg())
    begun = time.monotonic()

    def attempt(what: str, measure: Callable[[], T]) -> T | None:
        try:
            return measure()
        except Exception as exc:  # noqa: BLE001 - reported in the output, the run goes on
            say(traceback.format_exc())
            results.failures.append(f"{what}: {type(exc).__name__}: {exc}")
            return None

    with tempfile.TemporaryDirectory(prefix="infra-gitops-bench-replicas-") as tmp:
        root = Path(tmp)
        say("starting PostgreSQL ...")
        server = start_server(max_connections=args.max_connections)
        try:
            if "scale" in only:
                results.scale = attempt(
                    "scale",
                    partial(
                        measure_scale,
                        root / "scale",
                        server,
                        counts=counts,
                        repos=repos,
                        stacks_per_repo=per_repo,
                        change_per_repo=min(
                            per_repo, args.change_per_repo or (50 if quick else 250)
                        ),
                        drift_stacks=min(per_repo, 25 if quick else 50),
                        drift_interval="15s" if quick else "1m",
                        idle_s=20.0 if quick else 45.0,
                        parallelism=args.parallelism,
                        sync_timeout=args.timeout,
                    ),
                )
            if "chaos" in only:
                results.chaos = attempt(
                    "chaos",
                    lambda: measure_chaos(
                        root / "chaos",
                        server,
                        stacks=60 if quick else 300,
                        replicas=3,
                        kills=2 if quick else 6,
                        apply_seconds=1.0,
                        timeout=min(args.timeout, 600.0),
                    ),
                )
            if "terraform" in only:
                results.terraform = attempt(
                    "terraform",
                    lambda: measure_terraform(
                        root / "terraform",
                        server,
                        stacks=6 if quick else 20,
                        replicas=2,
                        timeout=min(args.timeout, 900.0),
                    ),
                )
        finally:
            remove(server)
    results.wall_s = time.monotonic() - begun
    command = "python -m bench.replicas " + " ".join(sys.argv[1:] if argv is None else argv)
    print(report(results, command.strip()))
    violations = (
        results.scale is not None and not (results.scale.records.ok and results.scale.engine.ok)
    ) or (
        results.chaos is not None and (not results.chaos.records.ok or not results.chaos.engine.ok)
    )
    return 1 if results.failures or violations else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.replicas",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="2 x 150 stacks, R = 1,2, small chaos")
    parser.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated sections (default all: {','.join(SECTIONS)})",
    )
    parser.add_argument("--repos", type=int, help="repos (default 4; --quick 2)")
    parser.add_argument("--stacks-per-repo", type=int, help="default 2,500 (--quick 150)")
    parser.add_argument("--replicas", help="replicas per repo to measure (default 1,2,4)")
    parser.add_argument(
        "--change-per-repo", type=int, help="stacks a measured commit changes (250; quick 50)"
    )
    parser.add_argument("--parallelism", type=int, default=2, help="workers per replica (2)")
    parser.add_argument(
        "--timeout", type=float, default=1800.0, help="seconds allowed for one sync (1800)"
    )
    parser.add_argument("--max-connections", type=int, default=400, help="PostgreSQL's")
    return parser


if __name__ == "__main__":
    sys.exit(main())
