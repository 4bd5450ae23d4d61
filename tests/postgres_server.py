"""The tests' throw-away PostgreSQL cluster: the starter lives in bench/pgcluster.py,
shared with the replicas benchmark (`python -m bench.replicas`), which cannot import the
tests. When the server cannot be started the tests that need it fail, never skip."""

from __future__ import annotations

from bench.pgcluster import ROLE, PostgresServer, find_bin_dir, remove, start_server

__all__ = ["ROLE", "PostgresServer", "find_bin_dir", "remove", "start_server"]
