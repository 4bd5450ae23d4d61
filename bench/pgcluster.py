"""A real, throw-away PostgreSQL cluster (Debian's `postgresql` package), for the tests
(tests/postgres_server.py, tests/conftest.py) and the replicas benchmark (bench/replicas.py).

One cluster on a free loopback port (initdb + pg_ctl, ~2 s), password authentication over
TCP as production has it, fsync off; a fresh database per test or per measurement.
It imports nothing from infra_gitops or the tests, so both can use it. When the server
cannot be started the tests that need it fail, never skip: the README's test command
installs `postgresql` when it is missing (scripts/test-deps.sh).
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROLE = "infra_gitops"


@dataclass(frozen=True)
class PostgresServer:
    data_dir: Path
    socket_dir: Path
    port: int
    password: str
    bin_dir: Path
    max_connections: int = 300
    """Many replicas on one cluster each hold a pool, a lease and lock connections."""

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{ROLE}:{self.password}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run sql as the superuser over the cluster's socket (no password needed)."""
        done = subprocess.run(
            [
                str(self.bin_dir / "psql"),
                "-X",
                "-q",
                "-t",
                "-A",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                str(self.socket_dir),
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"psql failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def create_database(self) -> str:
        """A new empty database owned by the test role; returns its URL."""
        name = f"t_{secrets.token_hex(6)}"
        self.psql(f"CREATE DATABASE {name} OWNER {ROLE}")
        return self.url(name)

    def stop(self, mode: str = "fast") -> None:
        _as_postgres([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", mode, "stop"])

    def start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} "
            f"-c unix_socket_directories={self.socket_dir} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off "
            f"-c max_connections={self.max_connections}"
        )
        _as_postgres(
            [
                str(self.bin_dir / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-o",
                options,
                "-l",
                str(self.data_dir / "server.log"),
                "-w",
                "-t",
                "60",
                "start",
            ]
        )


def find_bin_dir() -> Path:
    """Where initdb and pg_ctl are (Debian keeps them out of PATH)."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(on_path)
    for candidate in candidates:
        path = Path(candidate).resolve()
        if (path.parent / "pg_ctl").exists():
            return path.parent
    raise RuntimeError(
        "PostgreSQL's server programs (initdb, pg_ctl) are not installed: run "
        "scripts/test-deps.sh (Debian: apt-get install postgresql)"
    )


def start_server(max_connections: int = 300) -> PostgresServer:
    bin_dir = find_bin_dir()
    root = Path(tempfile.mkdtemp(prefix="infra-gitops-pg-"))
    root.chmod(0o755)
    data_dir, socket_dir = root / "data", root / "socket"
    for path in (data_dir, socket_dir):
        path.mkdir()
        _give_to_postgres(path)
    password = secrets.token_urlsafe(18)
    pwfile = root / "pw"
    pwfile.write_text(password + "\n", encoding="utf-8")
    _give_to_postgres(pwfile)
    _as_postgres(
        [
            str(bin_dir / "initdb"),
            "-D",
            str(data_dir),
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--no-instructions",
        ]
    )
    server = PostgresServer(data_dir, socket_dir, _free_port(), password, bin_dir, max_connections)
    server.start()
    # The role the product connects as, with a password (over TCP, scram-sha-256).
    server.psql(f"CREATE ROLE {ROLE} LOGIN CREATEDB PASSWORD '{password}'")
    pwfile.unlink()
    return server


def remove(server: PostgresServer) -> None:
    try:
        server.stop("immediate")
    finally:
        shutil.rmtree(server.data_dir.parent, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _give_to_postgres(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")


def _as_postgres(argv: list[str]) -> None:
    # The server refuses to run as root: as root, run it as the `postgres` user.
    if os.geteuid() == 0:
        argv = ["runuser", "-u", "postgres", "--", *argv]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(
            f"{Path(argv[-1] if argv[-1] != 'start' else 'pg_ctl').name} failed "
            f"({done.returncode}): {done.stderr.strip() or done.stdout.strip()}"
        )
