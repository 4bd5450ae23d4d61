"""A SecureString value never appears in any output, record or artifact."""

from __future__ import annotations

import json

import pytest
from e2e_helpers import SECRET, Env

pytestmark = pytest.mark.e2e


def test_secret_value_reaches_the_cloud_but_no_output_record_or_artifact(applied: Env) -> None:
    e2e = applied
    # It did reach the cloud: the test would pass vacuously otherwise.
    stored = e2e.aws("ssm").get_parameter(Name="/demo/dev/db_password", WithDecryption=True)
    assert stored["Parameter"]["Value"] == SECRET

    # Change the secret so a plan shows an update of the sensitive value.
    e2e.env["DEMO_DB_PASSWORD"] = SECRET + "-rotated"
    outputs = [
        e2e.cli("plan"),
        e2e.cli("plan", "--json"),
        e2e.cli("apply", "--auto-approve", "--json"),
        e2e.cli("drift", "--json"),
        e2e.cli("history", "--json"),
    ]
    run_ids = [r["id"] for r in json.loads(outputs[-1].stdout)["result"]["runs"]]
    outputs += [e2e.cli("show", run_id, "--json") for run_id in run_ids]
    outputs += [e2e.cli("show", run_id) for run_id in run_ids]
    for result in outputs:
        assert result.code in (0, 2), result.output
        assert SECRET not in result.output

    applied_run = json.loads(outputs[2].stdout)["result"]["stacks"][1]
    assert applied_run["stack"] == "app" and applied_run["status"] == "applied"
    (change,) = applied_run["plan"]["changes"]
    assert change["after"]["value"] == "(sensitive value)"

    # Every file the tool wrote: the run database, artifacts, logs, work dirs.
    scanned = 0
    for path in e2e.state_dir.rglob("*"):
        if path.is_file() and "sandbox" not in path.parts:
            scanned += 1
            assert SECRET.encode() not in path.read_bytes(), path
    assert scanned > 10
    artifacts = list(e2e.state_dir.glob("artifacts/*/plan.json"))
    assert artifacts and list(e2e.state_dir.glob("artifacts/*/log.txt"))
