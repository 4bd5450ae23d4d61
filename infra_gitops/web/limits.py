"""What the HTTP edge holds at most, and for how long: in one value, passed explicitly.

The webhook takes bodies from anyone who can reach it, before their signature is known,
so what the server holds is bounded: connections, bodies being read at once, each body's
size and the time it may take to arrive. Past a bound a client gets an answer (503 with
Retry-After, 413, 408), never a reset: a burst of GitHub deliveries waits in the listen
backlog and for a body slot instead.
"""

from __future__ import annotations

import dataclasses

MAX_BODY_BYTES = 5 * 1024 * 1024
"""GitHub truncates push payloads to 20 commits; 5 MiB is far above a real one and keeps
a hostile client from making us buffer gigabytes."""

SOCKET_TIMEOUT_S = 15.0
"""An idle connection (no request yet, or none since the last answer) is closed after
this long."""


@dataclasses.dataclass(frozen=True)
class Limits:
    """The edge's bounds. The defaults are the daemon's; tests pass smaller ones."""

    max_body_bytes: int = MAX_BODY_BYTES
    idle_timeout_s: float = SOCKET_TIMEOUT_S
    """Maps to uvicorn's timeout_keep_alive, and also bounds the wait for a new
    connection's first request (uvicorn has no such timer of its own)."""
    listen_backlog: int = 128
    """Connections the kernel holds until accepted (uvicorn's backlog)."""
    max_connections: int = 256
    """Connections open at once, idle ones included; a request arriving past it gets 503
    at once (what uvicorn's limit_concurrency does, with our JSON answer and Retry-After)."""
    max_bodies_in_flight: int = 16
    """Webhook bodies read and handled at once: at most this many times max_body_bytes
    in memory, however many clients send unsigned bodies."""
    body_slot_wait_s: float = 5.0
    """How long a delivery waits for a body slot before a 503: long enough for a burst of
    real deliveries (milliseconds each) to pass, short enough to shed a flood."""
    body_deadline_s: float = 10.0
    """The whole body must arrive within this (a byte every few seconds holds no slot)."""
    linger_s: float = 1.0
    """After answering without reading a body, how long its rest is read and dropped, so
    that closing does not reset the connection under the client's reading of the answer."""
    shutdown_grace_s: float = 2.0
    """On close, how long requests in progress may take to finish."""


DEFAULT_LIMITS = Limits()
