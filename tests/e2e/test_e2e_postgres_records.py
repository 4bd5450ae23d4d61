"""The real CLI with the embedded Terraform, recording in PostgreSQL: a plan's record and
artifacts are in the database (none in the state dir), readable from any machine's
`history` and `show --artifact`, with neither the stack's secret nor the database
password in them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from e2e_helpers import SECRET, Env

from infra_gitops.postgres import DatabaseUrl

pytestmark = pytest.mark.e2e


def test_a_plan_recorded_in_postgres_is_read_back_from_anywhere(
    e2e: Env, database_url: str, tmp_path: Path
) -> None:
    url = DatabaseUrl.parse(database_url)
    planned = e2e.cli("plan", "--json", "--database-url", url.dsn)
    assert planned.code == 2, planned.output
    assert not (e2e.state_dir / "runs.db").exists()
    assert not (e2e.state_dir / "artifacts").exists()

    elsewhere = tmp_path / "another-machine"
    history = e2e.cli("history", "--json", "--database-url", url.dsn, state_dir=elsewhere)
    assert history.code == 0, history.output
    runs = {r["stack"]: r for r in json.loads(history.stdout)["result"]["runs"]}
    assert sorted(runs) == ["app", "storage"]
    storage = runs["storage"]
    assert (storage["kind"], storage["status"]) == ("plan", "changes")
    assert storage["plan_artifact"] == f"db:{storage['id']}/plan.json"

    shown = e2e.cli(
        "show",
        storage["id"],
        "--artifact",
        "plan.json",
        "--database-url",
        url.dsn,
        state_dir=elsewhere,
    )
    assert shown.code == 0, shown.output
    plan = json.loads(shown.stdout)
    assert any(c["type"] == "aws_s3_bucket" for c in plan["resource_changes"])
    password = url.dsn.split(":")[2].split("@")[0]
    for text in (planned.output, history.output, shown.output):
        assert SECRET not in text
        assert password not in text
