"""A run's log as server-sent events (GET /api/runs/{id}/log): one `data:` event per
line as the runner writes them, then `end` with the run's final status. The log is read
through DaemonApi.run_log in the thread pool and polled with asyncio.sleep: the event
loop never blocks. Bounded: the stream ends with the run, or after max_s (then the
browser's EventSource reconnects and goes on from the Last-Event-ID it was sent: the
byte offset of the next line).

Log lines are scrubbed of secrets by the runner before they are written: nothing is
added here but the framing (a line's carriage returns become spaces: SSE splits on them).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

from infra_gitops.daemon.contracts import DaemonApi, LogChunk
from infra_gitops.errors import GitOpsError

POLL_S = 0.5
MAX_S = 600.0


def start_offset(last_event_id: str | None) -> int:
    """Where a reconnecting EventSource goes on (its Last-Event-ID), else 0."""
    try:
        return max(0, int(last_event_id or 0))
    except ValueError:
        return 0


def log_stream(
    api: DaemonApi,
    run_id: str,
    first: LogChunk,
    *,
    offset: int,
    poll_s: float = POLL_S,
    max_s: float = MAX_S,
) -> StreamingResponse:
    """The stream, from first (the chunk read at offset, which proved the run exists)."""
    return StreamingResponse(
        _events(api, run_id, first, offset, poll_s, max_s),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _events(
    api: DaemonApi, run_id: str, chunk: LogChunk, offset: int, poll_s: float, max_s: float
) -> AsyncIterator[bytes]:
    deadline = time.monotonic() + max_s
    pending = b""
    while True:
        pending += chunk.data
        *lines, pending = pending.split(b"\n")
        for line in lines:
            offset += len(line) + 1
            yield _event("line", line.decode("utf-8", "replace"), offset)
        if chunk.final_status is not None:
            if pending:
                yield _event("line", pending.decode("utf-8", "replace"), offset + len(pending))
            yield _event("end", json.dumps({"status": chunk.final_status}), None)
            return
        if time.monotonic() > deadline:
            yield _event("timeout", "the run is still running; reconnect for more", None)
            return
        await asyncio.sleep(poll_s)
        try:
            chunk = await run_in_threadpool(api.run_log, run_id, chunk.next_offset)
        except GitOpsError as exc:
            yield _event("failure", str(exc), None)
            return


def _event(kind: str, data: str, event_id: int | None) -> bytes:
    head = f"event: {kind}\n" if kind != "line" else ""
    tail = f"id: {event_id}\n" if event_id is not None else ""
    text = data.replace("\r", " ")
    return f"{head}data: {text}\n{tail}\n".encode()
