"""Run records, the audit trail: every plan, drift check and apply, against its commit.

One store, two back ends (infra_gitops/store/): SQLite at <state_dir>/runs.db (the
embedded default, one machine) or PostgreSQL (`database_url`: replicas of the daemon
sharing one database). RunStore holds everything both share: rows to runs, scrubbing,
filters, id allocation, stack state, bad commits; a back end gives it transactions, its
migrations and the few statements that differ. Every call is one transaction, so one
RunStore may be used from many threads while other processes read and write the same
records.

Artifacts (plan JSON, logs) go to files under <state_dir>/artifacts (the default without
a database), the database (the default with one) or S3 (store/artifacts.py).
"""

from __future__ import annotations

import builtins
import json
import os
import sqlite3
import threading
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
from infra_gitops.postgres import DatabaseUrl
from infra_gitops.process import own_identity
from infra_gitops.redaction import Scrubber
from infra_gitops.store import artifacts as artifact_places
from infra_gitops.store.artifacts import Artifacts, parse_artifact_store
from infra_gitops.store.backend import RecordsBackend, Transaction
from infra_gitops.store.sqlite import SqliteRecords

DB_NAME = "runs.db"
ARTIFACTS_DIR = "artifacts"
PLAN_ARTIFACT = "plan.json"
LOG_ARTIFACT = "log.txt"


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


def _owner_token_and_artifact_content(conn: sqlite3.Connection) -> None:
    # The owner token of the store that started a run (PostgreSQL tells its liveness by
    # the token's lease; SQLite keeps pid, host and start), and an artifact's bytes when
    # the artifact store is the database.
    conn.execute("ALTER TABLE runs ADD COLUMN owner_token TEXT")
    conn.execute("ALTER TABLE artifacts ADD COLUMN content BLOB")


def _paused_by(conn: sqlite3.Connection) -> None:
    # Who paused a stack's auto-apply by hand (the API's pause): such a pause lasts until
    # resumed, where a rollback's ends with the next commit touching the stack.
    conn.execute("ALTER TABLE stack_state ADD COLUMN paused_by TEXT")


MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _schema_v1,
    _schema_v2,
    _plan_kinds_columns,
    _store_identity,
    _schema_prune_guard,
    _newest_first_indexes,
    _owner_token_and_artifact_content,
    _paused_by,
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
    """The run records of one state directory, or of one database shared by replicas.
    Use `with RunStore.open(state_dir) as store`."""

    def __init__(
        self,
        state_dir: Path,
        backend: RecordsBackend,
        artifacts: Artifacts,
        *,
        scrubber: Scrubber | None = None,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.db_path = self.state_dir / DB_NAME
        self.artifacts_dir = self.state_dir / ARTIFACTS_DIR
        self._backend = backend
        self._artifacts = artifacts
        self._scrubber = scrubber or Scrubber(())
        self._open = False

    @classmethod
    @contextmanager
    def open(
        cls,
        state_dir: Path,
        *,
        scrubber: Scrubber | None = None,
        database_url: DatabaseUrl | None = None,
        artifact_store: str | None = None,
        max_connections: int | None = None,
    ) -> Iterator[RunStore]:
        """Create or migrate the store, and close it on exit.

        database_url: PostgreSQL instead of <state_dir>/runs.db. artifact_store: files,
        database or s3://BUCKET/PREFIX (default: files without a database, database with
        one). max_connections: the PostgreSQL pool's size at most (default 8; a daemon
        passes its parallelism + 4: its stacks' runs, its passes and its HTTP readers).
        A scrubber, when given, is applied once more to everything recorded (errors,
        changes, text artifacts): a second net behind the engines' own redaction.
        """
        state_dir = Path(state_dir)
        try:
            where = parse_artifact_store(
                artifact_store
                or (artifact_places.DATABASE if database_url else artifact_places.FILES)
            )
        except ValueError as exc:
            raise RunStoreError(str(exc)) from None
        if database_url is None or where == artifact_places.FILES:
            _make_private_dirs(state_dir)
        backend = _open_backend(state_dir, database_url, max_connections)
        store = cls(
            state_dir, backend, Artifacts(where, state_dir / ARTIFACTS_DIR), scrubber=scrubber
        )
        store._open = True
        try:
            yield store
        finally:
            store._open = False
            backend.close()

    # ------------------------------------------------------------ identity

    @property
    def owner_token(self) -> str:
        """This open store's identity as the owner of the runs it starts."""
        return self._backend.owner_token

    @property
    def lease_lost(self) -> threading.Event:
        """Set when the owner lease is lost (PostgreSQL only): stop this store's engines,
        then renew_lease()."""
        return self._backend.lease_lost

    @property
    def database_url(self) -> DatabaseUrl | None:
        return self._backend.database_url

    def renew_lease(self) -> bool:
        """After lease_lost: a new lease under a new owner_token (the old token's runs
        become interruptible by anyone); False while the database is unreachable."""
        return self._backend.renew_lease()

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
        """Record a run as running now, owned by this store (asked for by actor)."""
        started = _now()
        owner = own_identity()
        with self._write() as tx:
            for _ in range(5):
                run_id = _new_id(started)
                inserted = tx.execute(
                    """INSERT INTO runs (id, stack, kind, trigger, status, engine,
                        commit_sha, commit_author, commit_email, commit_date, commit_message,
                        commit_dirty, started_at, owner_pid, owner_host, owner_start,
                        owner_token, actor)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT DO NOTHING""",
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
                        self.owner_token,
                        actor,
                    ),
                ).rowcount
                if inserted:
                    return self._get_exact(tx, run_id)
        raise RunStoreError(f"could not allocate a unique run id in {self._where}")

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
        with self._write() as tx:
            run = self._get_exact(tx, self._resolve_id(tx, run_id))
            # An interrupted run may still finish: its owner was alive after all.
            if run.status not in (RunStatus.RUNNING, RunStatus.INTERRUPTED):
                raise RunStoreError(
                    f"run {run.id} already finished ({run.status} at {run.finished_at}); "
                    "a finished record is never rewritten"
                )
            tx.execute(
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
            return self._get_exact(tx, run.id)

    def attach(self, run_id: str, name: str, content: str | bytes | Path) -> Path | str:
        """Keep an artifact of a run (e.g. PLAN_ARTIFACT, LOG_ARTIFACT); returns where it
        is: a Path in the files store, a db:/s3:// reference otherwise.

        Readers see the previous version or the whole new one, never part of it.
        Attaching a name again replaces it.
        """
        _check_artifact_name(name)
        run = self.get(run_id)
        stored = self._artifacts.put(run.id, name, self._scrub_bytes(_content_bytes(content)))
        with self._write() as tx:
            tx.execute(
                "INSERT INTO artifacts (run_id, name, path, created_at, content) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (run_id, name) DO UPDATE SET "
                "path = excluded.path, created_at = excluded.created_at, "
                "content = excluded.content",
                (run.id, name, stored.reference, _iso(_now()), stored.content),
            )
        return self._artifacts.shown(stored.reference)

    def read_artifact(self, run_id: str, name: str) -> bytes:
        """The content of a run's artifact, wherever it is kept."""
        with self._read() as tx:
            resolved = self._resolve_id(tx, run_id)
            row = tx.execute(
                "SELECT path, content FROM artifacts WHERE run_id = ? AND name = ?",
                (resolved, name),
            ).fetchone()
            if row is None:
                names = [
                    r["name"]
                    for r in tx.execute(
                        "SELECT name FROM artifacts WHERE run_id = ? ORDER BY name", (resolved,)
                    ).fetchall()
                ]
                raise RunStoreError(
                    f"run {resolved} has no artifact {name!r}; it has: {', '.join(names) or 'none'}"
                )
        return self._artifacts.read(row["path"], row["content"])

    def mark_interrupted(self) -> builtins.list[Run]:
        """Runs left running by an owner that is gone become interrupted.

        Call at every start of the tool. SQLite: owners are processes of this host (runs
        of other hosts are left alone: their liveness cannot be seen from here).
        PostgreSQL: an owner is gone when its lease is free, on whatever host it ran.
        """
        with self._read() as tx:
            rows = tx.execute(
                "SELECT id, owner_pid, owner_host, owner_start, owner_token FROM runs "
                "WHERE status = ?",
                (str(RunStatus.RUNNING),),
            ).fetchall()
            dead = self._backend.dead_owner_runs(tx, rows)
        if not dead:
            return []
        ended = _now()
        with self._write() as tx:
            marked = []
            for row in dead:
                run = self._get_exact(tx, row["id"])
                updated = tx.execute(
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
                    marked.append(self._get_exact(tx, run.id))
            return marked

    # ------------------------------------------------------------ reading

    def get(self, run_id: str) -> Run:
        """The run with this id or unique id prefix."""
        with self._read() as tx:
            return self._get_exact(tx, self._resolve_id(tx, run_id))

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
        with self._read() as tx:
            return self._to_runs(tx, tx.execute(sql, params).fetchall())

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
        with self._read() as tx:
            rows = tx.execute(
                self._backend.recent_runs_sql, (self._backend.list_param(names), per_stack)
            ).fetchall()
            for run in self._to_runs(tx, rows):
                result[run.stack].append(run)
        return result

    def stack_names(self) -> builtins.list[str]:
        """Every stack that has runs, sorted."""
        with self._read() as tx:
            # A skip through the index, one seek per stack: distinct stacks without
            # reading every run (SELECT DISTINCT would walk all of them).
            rows = tx.execute(
                """WITH RECURSIVE seen (stack) AS (
                    SELECT MIN(stack) FROM runs
                    UNION ALL
                    SELECT (SELECT MIN(stack) FROM runs WHERE stack > seen.stack)
                    FROM seen WHERE seen.stack IS NOT NULL
                )
                SELECT stack FROM seen WHERE stack IS NOT NULL"""
            ).fetchall()
        return [str(row["stack"]) for row in rows]

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
        with self._read() as tx:
            row = tx.execute(sql, (stack, *kinds)).fetchone()
        return f"{row['id']}:{row['status']}" if row is not None else None

    def artifacts(self, run_id: str) -> dict[str, Path | str]:
        """The artifacts of a run by name: paths in the files store, else references."""
        with self._read() as tx:
            rows = tx.execute(
                "SELECT name, path FROM artifacts WHERE run_id = ? ORDER BY name",
                (self._resolve_id(tx, run_id),),
            ).fetchall()
        return {row["name"]: self._artifacts.shown(row["path"]) for row in rows}

    # ------------------------------------------------------------ stack state (daemon)

    def stack_states(self) -> dict[str, StackState]:
        with self._read() as tx:
            rows = tx.execute("SELECT * FROM stack_state ORDER BY stack").fetchall()
        return {row["stack"]: _to_stack_state(row) for row in rows}

    def stack_state(self, stack: str) -> StackState | None:
        """One stack's state (what stack_states() holds for it), by its key."""
        with self._read() as tx:
            row = tx.execute("SELECT * FROM stack_state WHERE stack = ?", (stack,)).fetchone()
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
        with self._write() as tx:
            # Column names come from the whitelist above, never from input.
            tx.execute(
                f"INSERT INTO stack_state (stack, {names}) VALUES (?, {marks}) "
                f"ON CONFLICT (stack) DO UPDATE SET {updates}",
                (stack, *columns.values()),
            )

    # ------------------------------------------------------------ bad commits (daemon)

    def record_bad_commit(self, sha: str, error: str) -> bool:
        """Note a commit the daemon cannot use; False when it was noted already."""
        with self._write() as tx:
            return bool(
                tx.execute(
                    "INSERT INTO bad_commits (commit_sha, error, recorded_at) "
                    "VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                    (sha, self._scrubber.scrub(error), _iso(_now())),
                ).rowcount
            )

    def latest_bad_commit(self) -> BadCommit | None:
        with self._read() as tx:
            row = tx.execute(
                "SELECT * FROM bad_commits ORDER BY recorded_at DESC LIMIT 1"
            ).fetchone()
        if row is None:
            return None
        return BadCommit(row["commit_sha"], row["error"], row["recorded_at"])

    # ------------------------------------------------------------ internals

    def check(self) -> None:
        """Raise unless the database opened by open() is there, readable and at this
        schema: cheap (one connection, no table scan), for readiness probes."""
        with self._read() as tx:
            self._backend.check(tx)

    @property
    def _where(self) -> str:
        return self._backend.where

    @contextmanager
    def _write(self) -> Iterator[Transaction]:
        with self._transaction(write=True) as tx:
            yield tx

    @contextmanager
    def _read(self) -> Iterator[Transaction]:
        with self._transaction(write=False) as tx:
            yield tx

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[Transaction]:
        if not self._open:
            raise RunStoreError(f"the run store {self._where} is closed (use RunStore.open)")
        with self._backend.transaction(write=write) as tx:
            yield tx

    def _resolve_id(self, tx: Transaction, run_id: str) -> str:
        if not run_id:
            raise RunStoreError("no run id given")
        # Ids are ASCII, so every id starting with the prefix sorts below prefix + DEL.
        rows = tx.execute(
            "SELECT id FROM runs WHERE id >= ? AND id < ? ORDER BY id LIMIT 6",
            (run_id, run_id + "\x7f"),
        ).fetchall()
        ids = [row["id"] for row in rows]
        if run_id in ids:
            return run_id
        if not ids:
            raise RunStoreError(f"no run with id '{run_id}' in {self._where}")
        if len(ids) > 1:
            raise RunStoreError(
                f"run id '{run_id}' is ambiguous: it starts {', '.join(ids[:5])}"
                f"{' ...' if len(ids) > 5 else ''}; give more characters"
            )
        return str(ids[0])

    def _get_exact(self, tx: Transaction, run_id: str) -> Run:
        row = tx.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise RunStoreError(f"no run with id '{run_id}' in {self._where}")
        return self._to_runs(tx, [row])[0]

    def _to_runs(self, tx: Transaction, rows: Sequence[Any]) -> builtins.list[Run]:
        """Runs of rows, with the artifacts of all of them read in one query."""
        if not rows:
            return []
        artifacts: dict[str, dict[str, str]] = {row["id"]: {} for row in rows}
        for r in tx.execute(
            "SELECT run_id, name, path FROM artifacts "
            f"WHERE run_id IN ({self._backend.id_list_sql})",
            (self._backend.list_param(builtins.list(artifacts)),),
        ).fetchall():
            artifacts[r["run_id"]][r["name"]] = str(self._artifacts.shown(r["path"]))
        return [_row_to_run(row, artifacts[row["id"]]) for row in rows]

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


def _open_backend(
    state_dir: Path, database_url: DatabaseUrl | None, max_connections: int | None
) -> RecordsBackend:
    if database_url is None:
        sqlite = SqliteRecords(state_dir / DB_NAME, migrate=migrate, schema_version=SCHEMA_VERSION)
        sqlite.open()
        return sqlite
    # Imported only here: psycopg is an optional dependency, and loads only when used.
    from infra_gitops.store.postgres import POOL_MAX, PostgresRecords

    records = PostgresRecords(database_url, max_connections=max_connections or POOL_MAX)
    records.open()
    return records


def _make_private_dirs(state_dir: Path) -> None:
    # Records show infrastructure details, and work dirs hold state files and saved
    # plans with secrets: the directory is its owner's only, made so if it was not
    # (older versions, or a directory made by hand).
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if state_dir.stat().st_mode & 0o077:
        state_dir.chmod(0o700)
    (state_dir / ARTIFACTS_DIR).mkdir(exist_ok=True, mode=0o700)


def _row_to_run(row: Any, names: dict[str, str]) -> Run:
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
    paused_by: str | None = None
    """Who paused auto-apply by hand: paused until resumed, whatever the commits."""
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
    "paused_by",
}


def _to_stack_state(row: Any) -> StackState:
    return StackState(
        stack=row["stack"],
        desired_commit=row["desired_commit"],
        out_of_sync=bool(row["out_of_sync"]),
        orphaned=bool(row["orphaned"]),
        message=row["message"],
        paused_at_commit=row["paused_at_commit"],
        pause_reason=row["pause_reason"],
        paused_by=row["paused_by"],
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
        clauses.append("substr(commit_sha, 1, CAST(? AS INTEGER)) = ?")
        params.extend([len(commit), commit.lower()])
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), params


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
