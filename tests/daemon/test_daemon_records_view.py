"""What the web UI reads of the records: a run's log in bounded pieces, from the growing
file while the run runs and from its stored artifact once it ended."""

from __future__ import annotations

from pathlib import Path

from infra_gitops.daemon.records_view import LOG_DIR, MAX_CHUNK, run_log
from infra_gitops.models import Commit, RunKind, RunStatus
from infra_gitops.runs import LOG_ARTIFACT, RunStore

COMMIT = Commit("e" * 40, "Ada", "ada@example.com", "2026-12-01T10:00:00+00:00", "msg")


def read_all(store: RunStore, state_dir: Path, run_id: str) -> tuple[bytes, list[str | None]]:
    data, statuses, offset = b"", [], 0
    while True:
        chunk = run_log(store, state_dir, run_id, offset)
        assert len(chunk.data) <= MAX_CHUNK
        data, offset = data + chunk.data, chunk.next_offset
        statuses.append(chunk.final_status)
        if chunk.final_status is not None or not chunk.data:
            return data, statuses


def test_a_long_log_comes_in_bounded_pieces_growing_then_stored(tmp_path: Path) -> None:
    lines = b"".join(b"line %06d of a long apply\n" % i for i in range(30_000))  # ~780 KB
    with RunStore.open(tmp_path) as store:
        run = store.start("app", RunKind.APPLY, "api:sync", COMMIT, "terraform")
        growing = tmp_path / LOG_DIR / f"{run.id}.log"
        growing.parent.mkdir(exist_ok=True)
        growing.write_bytes(lines[:400_000])
        live, live_statuses = read_all(store, tmp_path, run.id)
        assert live == lines[:400_000] and set(live_statuses) == {None}  # still running

        store.attach(run.id, LOG_ARTIFACT, lines)
        store.finish(run.id, RunStatus.APPLIED)
        growing.unlink()
        stored, statuses = read_all(store, tmp_path, run.id)
    assert stored == lines
    assert statuses[-1] == "applied" and set(statuses[:-1]) == {None} and len(statuses) == 4
