"""The daemon's HTTP edge: N keep-alive GETs of /healthz and of /api/stacks on one
connection with http.client, the way a Prometheus scrape or a UI's polling reuses it.

    python -m bench.http_edge            # N = 500 per endpoint, 200 stacks listed
    python -m bench.http_edge --quick    # N = 50

The edge is the real one (`serve()`, real HTTP on 127.0.0.1) in front of a stand-in
core (a fixed list of stack views: the edge's cost, not the run store's, is measured).
Before and after: the same file runs on a tree without infra_gitops.web (the stdlib
server in infra_gitops.daemon.server), e.g.

    PYTHONPATH=/path/to/that/tree python bench/http_edge.py

Not a timed test: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import http.client
import importlib
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

import infra_gitops
from infra_gitops.daemon.contracts import StackView, SyncStatus


class StandInCore:
    """A stand-in for the daemon core behind the DaemonApi seam: fixed answers."""

    def __init__(self, stacks: int) -> None:
        self._views = [
            StackView(
                name=f"stack-{i:04d}",
                status=SyncStatus.SYNCED,
                engine="terraform",
                applied_commit="a" * 40,
                desired_commit="a" * 40,
                last_drift_check="2026-12-01T21:00:00+00:00",
                last_run_id=f"run-{i}",
            )
            for i in range(stacks)
        ]

    def health(self) -> Mapping[str, Any]:
        return {"ok": True, "version": "bench"}

    def readiness(self) -> tuple[bool, Mapping[str, Any]]:
        return True, {}

    def trigger(self, reason: str) -> None:
        pass

    def stacks(self) -> list[StackView]:
        return self._views


def _serve() -> tuple[str, Callable[..., Any]]:
    """The edge of the imported tree: infra_gitops.web (ASGI) or, before it, the
    stdlib's. Chosen by file, not by import: an editable install would otherwise find
    infra_gitops.web in its own tree under another tree's infra_gitops."""
    package = Path(str(infra_gitops.__file__)).parent
    name = "web" if (package / "web" / "server.py").exists() else "daemon"
    return f"infra_gitops.{name}.server", importlib.import_module(
        f"infra_gitops.{name}.server"
    ).serve


def keep_alive_ms(host: str, port: int, path: str, n: int) -> list[float]:
    """Per-request milliseconds of n GETs on one kept-alive connection (after a warm-up)."""
    connection = http.client.HTTPConnection(host, port, timeout=10)
    connection.request("GET", path)
    connection.getresponse().read()
    times = []
    for _ in range(n):
        started = time.perf_counter()
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        times.append((time.perf_counter() - started) * 1000)
        if response.status != 200:
            raise SystemExit(f"GET {path}: {response.status}")
    connection.close()
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="N = 50 instead of 500")
    parser.add_argument("-n", type=int, help="GETs per endpoint (default 500)")
    parser.add_argument("--stacks", type=int, default=200, help="stacks /api/stacks lists")
    args = parser.parse_args(argv)
    n = args.n or (50 if args.quick else 500)
    edge, serve = _serve()
    handle: AbstractContextManager[Any] = serve(
        "127.0.0.1:0", StandInCore(args.stacks), CollectorRegistry(), webhook_secret=None
    )
    print(f"edge: {edge}; {n} keep-alive GETs per endpoint; {args.stacks} stacks listed\n")
    print("| endpoint | median ms | p95 ms | max ms | requests/s |")
    print("|---|---|---|---|---|")
    with handle as server:
        for path in ("/healthz", "/api/stacks"):
            times = keep_alive_ms(server.host, server.port, path, n)
            p95 = statistics.quantiles(times, n=20)[-1]
            rate = 1000 * len(times) / sum(times)
            print(
                f"| `GET {path}` | {statistics.median(times):.2f} | {p95:.2f} "
                f"| {max(times):.2f} | {rate:,.0f} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
