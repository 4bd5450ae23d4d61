"""Run records, the audit trail: every plan, drift check and apply, against its commit.

Records live in SQLite (<state_dir>/runs.db, WAL mode) and artifacts in files
(<state_dir>/artifacts/<run_id>/). Every call opens its own connection and does one
transaction, so one RunStore may be used from many threads, and another process (a
`history` command, the daemon) may read or write the same state directory meanwhile.

Only `RunStore.open` creates the database. Every later connection opens the very file
opened then, or fails: a database deleted or replaced under a long-running process (the
daemon) is an error naming the path, never a new empty history that would make every
stack look new.
"""

from __future__ import annotations

import builtins
import json
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from infra_gitops.errors import RunStoreError
from infra_gitops.models import (
    ChangeCounts,
    Commit,
    OutputChange,
    ResourceChange,
    Run,
    RunKind,
    RunStatus,
)
from infra_gitops.process import own_identity, owner_alive
from infra_gitops.redaction import Scrubber

DB_NAME = "runs.db"
ARTIFACTS_DIR = "artifacts"
PLAN_ARTIFACT = "plan.json"
LOG_ARTIFACT = "log.txt"
BUSY_TIMEOUT_S = 30.0
"""How long a write waits for another process's write transaction (they are short)."""


# ---------------------------------------------------------------- schema


def _schema_v1(conn: sqlite3.Connection) -> None:
    for statement in (
        """CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            stack TEXT NOT NULL,
            kind TEXT NOT NULL,
            trigger TEXT NOT NULL,
            status TEXT NOT NULL,
            engine TEXT NOT NULL,
            engine_version TEXT NOT NULL DEFAULT '',
            commit_sha TEXT NOT NULL,
            commit_author TEXT NOT NULL,
            commit_email TEXT NOT NULL,
            commit_date TEXT NOT NULL,
            commit_message TEXT NOT NULL,
            commit_dirty INTEGER NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            duration_s REAL,
            count_create INTEGER NOT NULL DEFAULT 0,
            count_update INTEGER NOT NULL DEFAULT 0,
            count_replace INTEGER NOT NULL DEFAULT 0,
            count_delete INTEGER NOT NULL DEFAULT 0,
            changes TEXT NOT NULL DEFAULT '[]',
            drift TEXT NOT NULL DEFAULT '[]',
            error TEXT,
            owner_pid INTEGER NOT NULL,
            owner_host TEXT NOT NULL,
            owner_start TEXT
        )""",
        "CREATE INDEX runs_by_started ON runs (started_at)",
        "CREATE INDEX runs_by_stack ON runs (stack, started_at)",
        "CREATE INDEX runs_by_commit ON runs (commit_sha)",
        "CREATE INDEX runs_by_status ON runs (status)",
        """CREATE TABLE artifacts (
            run_id TEXT NOT NULL REFERENCES runs (id),
            name TEXT NOT NULL,
            path TEXT NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (run_id, name)
        )""",
    ):
        conn.execute(statement)


def _schema_v2(conn: sqlite3.Connection) -> None:
    # What the daemon knows about a stack beyond its runs: the commit it wants, why an
    # apply is held, whether it left the manifest, and a pause of auto-apply (rollback).
    conn.execute(
        """CREATE TABLE stack_state (
            stack TEXT PRIMARY KEY,
            desired_commit TEXT,
            out_of_sync INTEGER NOT NULL DEFAULT 0,
            orphaned INTEGER NOT NULL DEFAULT 0,
            message TEXT NOT NULL DEFAULT '',
            paused_at_commit TEXT,
            pause_reason TEXT,
            updated_at TEXT NOT NULL
        )"""
    )


def _plan_kinds_columns(conn: sqlite3.Connection) -> None:
    # Imports, moves, forgets, output changes and deferred changes are counted apart
    # (Terraform counts them apart); output changes are kept like resource changes.
    for column in ("count_import", "count_move", "count_forget", "count_outputs", "count_deferred"):
        conn.execute(f"ALTER TABLE runs ADD COLUMN {column} INTEGER NOT NULL DEFAULT 0")
    conn.execute("ALTER TABLE runs ADD COLUMN output_changes TEXT NOT NULL DEFAULT '[]'")


def _store_identity(conn: sqlite3.Connection) -> None:
    # A random id per database: a process holding the store notices when the file at
    # its path is another database, even one copied over it in place (same inode).
    conn.execute("CREATE TABLE store_identity (id TEXT NOT NULL)")
    conn.execute("INSERT INTO store_identity (id) VALUES (?)", (os.urandom(16).hex(),))


def _schema_prune_guard(conn: sqlite3.Connection) -> None:
    # Who ran a run when a person did (`prune --confirm`); the stack an old name was
    # renamed to (never pruned for it); commits the daemon could not use, and why
    # (shown by `status` even when no stack is known yet).
    conn.execute("ALTER TABLE runs ADD COLUMN actor TEXT")
    conn.execute("ALTER TABLE stack_state ADD COLUMN renamed_to TEXT")
    conn.execute(
        """CREATE TABLE bad_commits (
            commit_sha TEXT PRIMARY KEY,
            error TEXT NOT NULL,
            recorded_at TEXT NOT NULL
        )"""
    )


def _newest_first_indexes(conn: sqlite3.Connection) -> None:
    # Runs are read newest first, ties broken by id (see RunStore.list): with id in the
    # index, "the newest N of a stack" and "the newest N of all" are index walks that
    # stop after N rows, with no sort of a stack's (or the whole) history.
    conn.execute("CREATE INDEX runs_by_stack_newest ON runs (stack, started_at, id)")
    conn.execute("CREATE INDEX runs_by_newest ON runs (started_at, id)")
    conn.execute("DROP INDEX runs_by_stack")  # a prefix of runs_by_stack_newest
    conn.execute("DROP INDEX runs_by_started")  # a prefix of runs_by_newest


MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _schema_v1,
    _schema_v2,
    _plan_kinds_columns,
    _store_identity,
    _schema_prune_guard,
    _newest_first_indexes,
)
"""MIGRATIONS[n] takes the schema from version n to n + 1 (PRAGMA user_version).
Append a function for every schema change; never edit a released one."""

SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection, db_path: Path) -> int:
    """Bring the database to SCHEMA_VERSION in one transaction; returns the old version."""
    conn.execute("BEGIN IMMEDIATE")  # two processes opening a new store: one creates it
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise RunStoreError(
                f"{db_path} has schema version {version}, written by a newer infra-gitops; "
                f"this version reads up to {SCHEMA_VERSION}: upgrade infra-gitops"
            )
        for step in MIGRATIONS[version:]:
            step(conn)
        # PRAGMA takes no parameters; the value is our own integer.
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return version


# ---------------------------------------------------------------- the store


class RunStore:
    """The run records of one state directory. Use `with RunStore.open(state_dir) as store`."""

    def __init__(self, state_dir: Path, *, scrubber: Scrubber | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.db_path = self.state_dir / DB_NAME
        self.artifacts_dir = self.state_dir / ARTIFACTS_DIR
        self._scrubber = scrubber or Scrubber(())
        self._open = False
        self._file_id: tuple[int, int] | None = None
        """(st_dev, st_ino) of the database file opened by open()."""
        self._store_id: str | None = None
        """The random id kept in the database opened by open()."""

    @classmethod
    @contextmanager
    def open(cls, state_dir: Path, *, scrubber: Scrubber | None = None) -> Iterator[RunStore]:
        """Create or migrate the store, and close it on exit.

        A scrubber, when given, is applied once more to everything recorded (errors,
        changes, text artifacts): a second net behind the engines' own redaction.
        """
        store = cls(state_dir, scrubber=scrubber)
        store._initialize()
        try:
            yield store
        finally:
            store._open = False

    # ------------------------------------------------------------ recording

    def start(
        self,
        stack: str,
        kind: RunKind,
        trigger: str,
        commit: Commit,
        engine: str,
        *,
        actor: str | None = None,
    ) -> Run:
        """Record a run as running now, owned by this process (asked for by actor)."""
        started = _now()
        owner = own_identity()
        with self._write() as conn:
            for _ in range(5):
                run_id = _new_id(started)
                inserted = conn.execute(
                    """INSERT OR IGNORE INTO runs (id, stack, kind, trigger, status, engine,
                        commit_sha, commit_author, commit_email, commit_date, commit_message,
                        commit_dirty, started_at, owner_pid, owner_host, owner_start, actor)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    (
                        run_id,
                        stack,
                        str(kind),
                        trigger,
                        str(RunStatus.RUNNING),
                        engine,
                        commit.sha,
                        commit.author,
                        commit.email,
                        commit.date,
                        commit.message,
                        int(commit.dirty),
                        _iso(started),
                        *owner,
                        actor,
                    ),
                ).rowcount
                if inserted:
                    return self._get_exact(conn, run_id)
        raise RunStoreError(f"could not allocate a unique run id in {self.db_path}")

    def finish(
        self,
        run_id: str,
        status: RunStatus,
        *,
        counts: ChangeCounts | None = None,
        changes: Sequence[ResourceChange] = (),
        drift: Sequence[ResourceChange] = (),
        output_changes: Sequence[OutputChange] = (),
        engine_version: str = "",
        error: str | None = None,
    ) -> Run:
        """Record how a run ended. counts default to those of `changes` and
        `output_changes`."""
        if status is RunStatus.RUNNING:
            raise ValueError("finish() needs a final status, not running")
        if counts is None:
            counts = ChangeCounts.of(list(changes), list(output_changes))
        finished = _now()
        with self._write() as conn:
            run = self._get_exact(conn, self._resolve_id(conn, run_id))
            # An interrupted run may still finish: its owner was alive after all.
            if run.status not in (RunStatus.RUNNING, RunStatus.INTERRUPTED):
                raise RunStoreError(
                    f"run {run.id} already finished ({run.status} at {run.finished_at}); "
                    "a finished record is never rewritten"
                )
            conn.execute(
                """UPDATE runs SET status = ?, finished_at = ?, duration_s = ?,
                    count_create = ?, count_update = ?, count_replace = ?, count_delete = ?,
                    count_import = ?, count_move = ?, count_forget = ?, count_outputs = ?,
                    count_deferred = ?, changes = ?, drift = ?, output_changes = ?,
                    engine_version = ?, error = ?
                WHERE id = ?""",
                (
                    str(status),
                    _iso(finished),
                    _duration(run.started_at, finished),
                    counts.create,
                    counts.update,
                    counts.replace,
                    counts.delete,
                    counts.imported,
                    counts.moved,
                    counts.forget,
                    counts.outputs,
                    counts.deferred,
                    self._changes_json(changes),
                    self._changes_json(drift),
                    self._json([o.to_dict() for o in output_changes]),
                    engine_version,
                    self._scrub_optional(error),
                    run.id,
                ),
            )
            return self._get_exact(conn, run.id)

    def attach(self, run_id: str, name: str, content: str | bytes | Path) -> Path:
        """Keep an artifact of a run (e.g. PLAN_ARTIFACT, LOG_ARTIFACT); returns its path.

        Written to a temporary file and renamed into place: readers see the previous
        version or the whole new one, never part of it. Attaching a name again replaces it.
        """
        _check_artifact_name(name)
        run = self.get(run_id)
        data = self._scrub_bytes(_content_bytes(content))
        run_dir = self.artifacts_dir / run.id
        run_dir.mkdir(parents=True, exist_ok=True)
        target = run_dir / name
        _write_atomically(target, data)
        with self._write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO artifacts (run_id, name, path, created_at) "
                "VALUES (?, ?, ?, ?)",
                (run.id, name, f"{run.id}/{name}", _iso(_now())),
            )
        return target

    def mark_interrupted(self) -> builtins.list[Run]:
        """Runs left running by a process of this host that is gone become interrupted.

        Call at every start of the tool. Runs owned by other hosts are left alone: their
        owner's liveness cannot be seen from here.
        """
        with self._read() as conn:
            rows = conn.execute(
                "SELECT id, owner_pid, owner_host, owner_start FROM runs WHERE status = ?",
                (str(RunStatus.RUNNING),),
            ).fetchall()
        dead = [row for row in rows if owner_alive(*tuple(row)[1:]) is False]
        if not dead:
            return []
        ended = _now()
        with self._write() as conn:
            marked = []
            for row in dead:
                run = self._get_exact(conn, row["id"])
                updated = conn.execute(
                    "UPDATE runs SET status = ?, finished_at = ?, duration_s = ?, error = ? "
                    "WHERE id = ? AND status = ?",
                    (
                        str(RunStatus.INTERRUPTED),
                        _iso(ended),
                        _duration(run.started_at, ended),
                        _interrupted_note(run, row["owner_pid"], row["owner_host"]),
                        run.id,
                        str(RunStatus.RUNNING),
                    ),
                ).rowcount
                if updated:
                    marked.append(self._get_exact(conn, run.id))
            return marked

    # ------------------------------------------------------------ reading

    def get(self, run_id: str) -> Run:
        """The run with this id or unique id prefix."""
        with self._read() as conn:
            return self._get_exact(conn, self._resolve_id(conn, run_id))

    def list(
        self,
        stack: str | None = None,
        limit: int | None = 20,
        kind: RunKind | None = None,
        *,
        status: RunStatus | None = None,
        commit: str | None = None,
    ) -> builtins.list[Run]:
        """Runs newest first, optionally of one stack, kind, status or commit (SHA prefix)."""
        where, params = _filters(stack=stack, kind=kind, status=status, commit=commit)
        sql = f"SELECT * FROM runs {where} ORDER BY started_at DESC, id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        with self._read() as conn:
            return self._to_runs(conn, conn.execute(sql, params).fetchall())

    def recent_runs_by_stack(
        self, stacks: Iterable[str], per_stack: int
    ) -> dict[str, builtins.list[Run]]:
        """The newest per_stack runs of each of stacks (newest first, as list() orders
        them), in one query: every stack is in the result, with [] when it has no runs.

        Each stack's runs are an index walk that stops after per_stack rows, so the cost
        follows the number of stacks, not the length of their history.
        """
        names = builtins.list(dict.fromkeys(stacks))
        result: dict[str, builtins.list[Run]] = {name: [] for name in names}
        with self._read() as conn:
            rows = conn.execute(
                """SELECT runs.* FROM json_each(?) AS wanted
                JOIN runs ON runs.id IN (
                    SELECT id FROM runs WHERE stack = wanted.value
                    ORDER BY started_at DESC, id DESC LIMIT ?
                )
                ORDER BY runs.stack, runs.started_at DESC, runs.id DESC""",
                (json.dumps(names), per_stack),
            ).fetchall()
            for run in self._to_runs(conn, rows):
                result[run.stack].append(run)
        return result

    def stack_names(self) -> builtins.list[str]:
        """Every stack that has runs, sorted."""
        with self._read() as conn:
            # A skip through the index, one seek per stack: distinct stacks without
            # reading every run (SELECT DISTINCT would walk all of them).
            rows = conn.execute(
                """WITH RECURSIVE seen (stack) AS (
                    SELECT MIN(stack) FROM runs
                    UNION ALL
                    SELECT (SELECT MIN(stack) FROM runs WHERE stack > seen.stack)
                    FROM seen WHERE seen.stack IS NOT NULL
                )
                SELECT stack FROM seen WHERE stack IS NOT NULL"""
            ).fetchall()
        return [str(row[0]) for row in rows]

    def latest(
        self, stack: str, kind: RunKind | None = None, status: RunStatus | None = None
    ) -> Run | None:
        runs = self.list(stack, limit=1, kind=kind, status=status)
        return runs[0] if runs else None

    def latest_state_change(self, stack: str) -> str | None:
        """A token of the newest run that may have changed the stack's state (an apply,
        heal or destroy, whatever its status): it changes whenever such a run starts or
        ends. None when there was none."""
        sql = (
            "SELECT id, status FROM runs WHERE stack = ? AND kind IN (?, ?, ?) "
            "ORDER BY started_at DESC, id DESC LIMIT 1"
        )
        kinds = (str(RunKind.APPLY), str(RunKind.HEAL), str(RunKind.DESTROY))
        with self._read() as conn:
            row = conn.execute(sql, (stack, *kinds)).fetchone()
        return f"{row[0]}:{row[1]}" if row is not None else None

    def artifacts(self, run_id: str) -> dict[str, Path]:
        """The artifacts of a run by name."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT name, path FROM artifacts WHERE run_id = ? ORDER BY name",
                (self._resolve_id(conn, run_id),),
            ).fetchall()
        return {row["name"]: self.artifacts_dir / row["path"] for row in rows}

    # ------------------------------------------------------------ stack state (daemon)

    def stack_states(self) -> dict[str, StackState]:
        with self._read() as conn:
            rows = conn.execute("SELECT * FROM stack_state ORDER BY stack").fetchall()
        return {row["stack"]: _to_stack_state(row) for row in rows}

    def stack_state(self, stack: str) -> StackState | None:
        """One stack's state (what stack_states() holds for it), by its key."""
        with self._read() as conn:
            row = conn.execute("SELECT * FROM stack_state WHERE stack = ?", (stack,)).fetchone()
        return _to_stack_state(row) if row is not None else None

    def update_stack_state(self, stack: str, **values: Any) -> None:
        """Set some fields of a stack's state (see StackState), creating it if needed."""
        unknown = set(values) - _STACK_STATE_FIELDS
        if unknown:
            raise ValueError(f"unknown stack state fields: {sorted(unknown)}")
        columns = {k: int(v) if isinstance(v, bool) else v for k, v in values.items()}
        columns["updated_at"] = _iso(_now())
        names = ", ".join(columns)
        marks = ", ".join("?" for _ in columns)
        updates = ", ".join(f"{name} = excluded.{name}" for name in columns)
        with self._write() as conn:
            # Column names come from the whitelist above, never from input.
            conn.execute(
                f"INSERT INTO stack_state (stack, {names}) VALUES (?, {marks}) "
                f"ON CONFLICT (stack) DO UPDATE SET {updates}",
                (stack, *columns.values()),
            )

    # ------------------------------------------------------------ bad commits (daemon)

    def record_bad_commit(self, sha: str, error: str) -> bool:
        """Note a commit the daemon cannot use; False when it was noted already."""
        with self._write() as conn:
            return bool(
                conn.execute(
                    "INSERT OR IGNORE INTO bad_commits (commit_sha, error, recorded_at) "
                    "VALUES (?, ?, ?)",
                    (sha, self._scrubber.scrub(error), _iso(_now())),
                ).rowcount
            )

    def latest_bad_commit(self) -> BadCommit | None:
        with self._read() as conn:
            row = conn.execute(
                "SELECT * FROM bad_commits ORDER BY recorded_at DESC LIMIT 1"
            ).fetchone()
        if row is None:
            return None
        return BadCommit(row["commit_sha"], row["error"], row["recorded_at"])

    # ------------------------------------------------------------ internals

    def _initialize(self) -> None:
        # Records show infrastructure details, and work dirs hold state files and saved
        # plans with secrets: the directory is its owner's only, made so if it was not
        # (older versions, or a directory made by hand).
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self.state_dir.stat().st_mode & 0o077:
            self.state_dir.chmod(0o700)
        self.artifacts_dir.mkdir(exist_ok=True, mode=0o700)
        self._open = True
        with self._connect(create=True) as conn:
            _enable_wal(conn)
            migrate(conn, self.db_path)
            self._file_id = _file_id(self.db_path)
            self._store_id = _read_store_id(conn)

    def check(self) -> None:
        """Raise RunStoreError unless the database opened by open() is there, readable and
        at this schema: cheap (one connection, no table scan), for readiness probes."""
        with self._read() as conn:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            conn.execute("SELECT 1 FROM runs LIMIT 1").fetchall()
        if version != SCHEMA_VERSION:
            raise RunStoreError(
                f"the run records {self.db_path} have schema version {version}, "
                f"expected {SCHEMA_VERSION}: the file was changed by another program"
            )

    @contextmanager
    def _connect(self, *, create: bool = False) -> Iterator[sqlite3.Connection]:
        if not self._open:
            raise RunStoreError(f"the run store {self.db_path} is closed (use RunStore.open)")
        # mode=rw: SQLite would otherwise create an empty database where it is missing.
        uri = f"{self.db_path.absolute().as_uri()}?mode={'rwc' if create else 'rw'}"
        try:
            # isolation_level None: transactions are exactly the BEGIN/COMMIT written here.
            conn = sqlite3.connect(uri, timeout=BUSY_TIMEOUT_S, isolation_level=None, uri=True)
        except sqlite3.Error as exc:
            if not create and not self.db_path.exists():
                raise RunStoreError(self._gone_message("was deleted")) from None
            raise RunStoreError(f"cannot open the run records {self.db_path}: {exc}") from exc
        conn.row_factory = sqlite3.Row
        try:
            if not create:
                self._check_same_file()
                if _read_store_id(conn) != self._store_id:
                    raise RunStoreError(self._gone_message("was replaced by another database"))
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
            yield conn
        except sqlite3.Error as exc:
            raise RunStoreError(f"the run records {self.db_path} cannot be used: {exc}") from exc
        finally:
            conn.close()

    def _check_same_file(self) -> None:
        try:
            current = _file_id(self.db_path)
        except OSError:
            raise RunStoreError(self._gone_message("was deleted")) from None
        if current != self._file_id:
            raise RunStoreError(self._gone_message("was replaced by another file"))

    def _gone_message(self, what: str) -> str:
        return (
            f"the run records {self.db_path} {what} while in use; refusing to go on with "
            "another history (every stack would look new): restore the file, or restart "
            "to start from the database now there"
        )

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE takes the write lock up front: a deferred transaction that later
        # needs it fails with "database is locked" instead of waiting its turn.
        with self._transaction("BEGIN IMMEDIATE") as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        # One snapshot for all the statements of a read (a run and its artifacts agree).
        with self._transaction("BEGIN") as conn:
            yield conn

    @contextmanager
    def _transaction(self, begin: str) -> Iterator[sqlite3.Connection]:
        with self._connect() as conn:
            conn.execute(begin)
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:  # SQLite may have rolled back already on an error
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _resolve_id(self, conn: sqlite3.Connection, run_id: str) -> str:
        if not run_id:
            raise RunStoreError("no run id given")
        # Ids are ASCII, so every id starting with the prefix sorts below prefix + DEL.
        rows = conn.execute(
            "SELECT id FROM runs WHERE id >= ? AND id < ? ORDER BY id LIMIT 6",
            (run_id, run_id + "\x7f"),
        ).fetchall()
        ids = [row["id"] for row in rows]
        if run_id in ids:
            return run_id
        if not ids:
            raise RunStoreError(f"no run with id '{run_id}' in {self.db_path}")
        if len(ids) > 1:
            raise RunStoreError(
                f"run id '{run_id}' is ambiguous: it starts {', '.join(ids[:5])}"
                f"{' ...' if len(ids) > 5 else ''}; give more characters"
            )
        return str(ids[0])

    def _get_exact(self, conn: sqlite3.Connection, run_id: str) -> Run:
        row = conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise RunStoreError(f"no run with id '{run_id}' in {self.db_path}")
        return self._to_run(conn, row)

    def _to_run(self, conn: sqlite3.Connection, row: sqlite3.Row) -> Run:
        return self._to_runs(conn, [row])[0]

    def _to_runs(self, conn: sqlite3.Connection, rows: Sequence[sqlite3.Row]) -> builtins.list[Run]:
        """Runs of rows, with the artifacts of all of them read in one query."""
        if not rows:
            return []
        artifacts: dict[str, dict[str, str]] = {row["id"]: {} for row in rows}
        for r in conn.execute(
            "SELECT run_id, name, path FROM artifacts "
            "WHERE run_id IN (SELECT value FROM json_each(?))",
            (json.dumps(builtins.list(artifacts)),),
        ):
            artifacts[r["run_id"]][r["name"]] = str(self.artifacts_dir / r["path"])
        return [self._row_to_run(row, artifacts[row["id"]]) for row in rows]

    def _row_to_run(self, row: sqlite3.Row, names: dict[str, str]) -> Run:
        return Run(
            id=row["id"],
            stack=row["stack"],
            kind=RunKind(row["kind"]),
            trigger=row["trigger"],
            status=RunStatus(row["status"]),
            commit=Commit(
                sha=row["commit_sha"],
                author=row["commit_author"],
                email=row["commit_email"],
                date=row["commit_date"],
                message=row["commit_message"],
                dirty=bool(row["commit_dirty"]),
            ),
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            duration_s=row["duration_s"],
            counts=ChangeCounts(
                create=row["count_create"],
                update=row["count_update"],
                replace=row["count_replace"],
                delete=row["count_delete"],
                imported=row["count_import"],
                moved=row["count_move"],
                forget=row["count_forget"],
                outputs=row["count_outputs"],
                deferred=row["count_deferred"],
            ),
            changes=_changes_from_json(row["changes"]),
            drift=_changes_from_json(row["drift"]),
            output_changes=tuple(
                OutputChange.from_dict(item) for item in json.loads(row["output_changes"])
            ),
            engine=row["engine"],
            engine_version=row["engine_version"],
            error=row["error"],
            plan_artifact=names.get(PLAN_ARTIFACT),
            log_artifact=names.get(LOG_ARTIFACT),
            actor=row["actor"],
        )

    def _changes_json(self, changes: Iterable[ResourceChange]) -> str:
        return self._json([c.to_dict() for c in changes])

    def _json(self, items: builtins.list[dict[str, Any]]) -> str:
        return json.dumps(self._scrubber.scrub_json(items))

    def _scrub_optional(self, text: str | None) -> str | None:
        return None if text is None else self._scrubber.scrub(text)

    def _scrub_bytes(self, data: bytes) -> bytes:
        if not self._scrubber:
            return data
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return data  # binary: nothing a text secret could be matched in reliably
        return self._scrubber.scrub(text).encode("utf-8")


# ---------------------------------------------------------------- helpers


@dataclass(frozen=True)
class StackState:
    """What the daemon records about a stack besides its runs."""

    stack: str
    desired_commit: str | None = None
    """The newest commit seen that declares the stack."""
    out_of_sync: bool = False
    """That commit changes the stack and is not applied yet."""
    orphaned: bool = False
    """Removed from the manifest, still deployed (prune off)."""
    message: str = ""
    """Why: a held apply, a bad commit, ..."""
    paused_at_commit: str | None = None
    """Auto-apply is paused (after a rollback) until a commit after this one touches it."""
    pause_reason: str | None = None
    renamed_to: str | None = None
    """It left the manifest because a stack of this name took its place (same path)."""
    updated_at: str = ""


@dataclass(frozen=True)
class BadCommit:
    """A commit the daemon could not use (invalid manifest, unsafe files)."""

    sha: str
    error: str
    recorded_at: str


_STACK_STATE_FIELDS = {
    "renamed_to",
    "desired_commit",
    "out_of_sync",
    "orphaned",
    "message",
    "paused_at_commit",
    "pause_reason",
}


def _to_stack_state(row: sqlite3.Row) -> StackState:
    return StackState(
        stack=row["stack"],
        desired_commit=row["desired_commit"],
        out_of_sync=bool(row["out_of_sync"]),
        orphaned=bool(row["orphaned"]),
        message=row["message"],
        paused_at_commit=row["paused_at_commit"],
        pause_reason=row["pause_reason"],
        renamed_to=row["renamed_to"],
        updated_at=row["updated_at"],
    )


def _filters(
    *, stack: str | None, kind: RunKind | None, status: RunStatus | None, commit: str | None
) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (("stack", stack), ("kind", kind), ("status", status)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(str(value))
    if commit is not None:
        clauses.append("substr(commit_sha, 1, ?) = ?")
        params.extend([len(commit), commit.lower()])
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), params


def _enable_wal(conn: sqlite3.Connection) -> None:
    """Switch the file to WAL (persistent in it), so readers run while a writer writes."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            # The switch needs the file to itself and SQLite does not call the busy
            # handler for it: several processes opening a new store at once must retry.
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _read_store_id(conn: sqlite3.Connection) -> str | None:
    row = conn.execute("SELECT id FROM store_identity LIMIT 1").fetchone()
    return None if row is None else str(row[0])


def _file_id(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


def _changes_from_json(text: str) -> tuple[ResourceChange, ...]:
    return tuple(ResourceChange.from_dict(item) for item in json.loads(text))


def _check_artifact_name(name: str) -> None:
    # A plain file name: it must stay inside the run's directory, and dot-names are
    # reserved for the temporary files of atomic writes.
    if not name or "/" in name or "\\" in name or "\0" in name or name.startswith("."):
        raise ValueError(f"artifact name {name!r} must be a plain file name")


def _content_bytes(content: str | bytes | Path) -> bytes:
    if isinstance(content, Path):
        try:
            return content.read_bytes()
        except OSError as exc:
            raise RunStoreError(f"cannot read the artifact {content}: {exc}") from exc
    if isinstance(content, str):
        return content.encode("utf-8")
    return bytes(content)


def _write_atomically(target: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())  # the rename must not land before the data
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _interrupted_note(run: Run, pid: int, host: str) -> str:
    note = (
        f"interrupted: its process (pid {pid} on host {host}) ended without recording "
        "the outcome (killed or crashed)"
    )
    if run.kind in (RunKind.APPLY, RunKind.HEAL, RunKind.DESTROY):
        note += "; the stack may be partly changed: run a plan to see where it stands"
    return note


def _new_id(at: datetime) -> str:
    # Time first so ids sort by start; the random part keeps them unique across processes.
    return f"{at:%Y%m%dT%H%M%S}Z-{os.urandom(3).hex()}"


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(at: datetime) -> str:
    # Fixed precision, so the strings sort as the times do.
    return at.isoformat(timespec="microseconds")


def _duration(started_at: str, finished: datetime) -> float:
    # Wall clock across processes; clamped so a clock step back cannot give a negative.
    return max(0.0, round((finished - datetime.fromisoformat(started_at)).total_seconds(), 3))
