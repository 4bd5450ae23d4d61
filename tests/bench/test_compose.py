"""docker-compose.yml's replicas on PostgreSQL: no Docker engine runs here, so the file's
structure is checked instead, the keys the README's commands rely on."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from infra_gitops.postgres import DatabaseUrl

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_postgres_is_pinned_with_a_named_volume_a_healthcheck_and_no_password() -> None:
    compose = _compose()
    postgres = compose["services"]["postgres"]

    assert re.fullmatch(r"postgres:\d+\.\d+[\w.-]*", postgres["image"]), postgres["image"]
    volume = postgres["volumes"][0].split(":")[0]
    assert volume in compose["volumes"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    # The password only from the env file, never a literal in the compose file.
    assert "POSTGRES_PASSWORD" not in postgres.get("environment", {})
    assert [f["path"] for f in postgres["env_file"]] == ["./postgres.env"]
    assert "postgres.env" in (ROOT / ".gitignore").read_text().split()
    example = (ROOT / "postgres.env.example").read_text()
    assert re.search(r"^POSTGRES_PASSWORD=$", example, re.M)
    assert re.search(r"^PGPASSWORD=$", example, re.M)


def test_two_replicas_of_the_daemon_image_share_the_database_not_their_state() -> None:
    compose = _compose()
    services = compose["services"]
    replica = services["replica"]

    assert replica["deploy"]["replicas"] == 2
    assert replica["image"] == services["daemon"]["image"]
    assert replica["depends_on"]["postgres"]["condition"] == "service_healthy"
    # The URL from the environment, without a password (libpq reads PGPASSWORD).
    url = DatabaseUrl.parse(replica["environment"]["INFRA_GITOPS_DATABASE_URL"])
    assert url.dsn == url.display and "@postgres:5432/" in url.dsn
    assert not any("--database-url" in str(arg) for arg in replica["command"])
    assert [f["path"] for f in replica["env_file"]] == ["./postgres.env"]
    # The same cloud, state bucket endpoint and secrets as the embedded daemon.
    daemon_env = services["daemon"]["environment"]
    for name in ("AWS_ENDPOINT_URL", "INFRA_GITOPS_WEBHOOK_SECRET", "DEMO_DB_PASSWORD"):
        assert replica["environment"][name] == daemon_env[name]
    # Each container its own state dir: an anonymous volume (no name before the colon).
    command = replica["command"]
    state_dir = command[command.index("--state-dir") + 1]
    assert state_dir in replica["volumes"]
    assert "/readyz" in " ".join(replica["healthcheck"]["test"])
    # Scaling needs a port range, not one fixed host port.
    assert re.fullmatch(r"127\.0\.0\.1:\d+-\d+:8080", replica["ports"][0])
    # Replicas only when asked for: `docker compose up` keeps one embedded daemon.
    assert replica["profiles"] == ["replicas"] == services["postgres"]["profiles"]
    assert "profiles" not in services["daemon"]


def test_the_image_has_the_postgres_driver() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()

    assert re.search(r'^ARG EXTRAS="[^"]*\bpostgres\b', dockerfile, re.M)
