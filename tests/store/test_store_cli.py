"""`history`, `show` and `status` as real CLI processes on the PostgreSQL store (by
--database-url and by $INFRA_GITOPS_DATABASE_URL), artifacts kept in the database and in
S3 (a real moto server) read back with `show RUN --artifact NAME`, and the database
password in no output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from infra_gitops.models import Commit, RunKind, RunStatus
from infra_gitops.postgres import DATABASE_URL_ENV, DatabaseUrl
from infra_gitops.redaction import Scrubber
from infra_gitops.runs import LOG_ARTIFACT, PLAN_ARTIFACT, RunStore

COMMIT = Commit("a1" * 20, "Ada", "ada@example.com", "2026-11-23T17:00:00+00:00", "Tag it")
PLAN = b'{"format_version": "1.2", "resource_changes": [{"address": "aws_s3_bucket.logs"}]}\n'
SECRET = "s3cr3t-token-value"


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """The infra-gitops command in a process of its own (this checkout's code)."""
    base = {k: v for k, v in os.environ.items() if k != DATABASE_URL_ENV}
    return subprocess.run(
        [sys.executable, "-m", "infra_gitops.cli", *args],
        env={**base, **(env or {})},
        capture_output=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def url(database_url: str) -> DatabaseUrl:
    return DatabaseUrl.parse(database_url)


@pytest.fixture(scope="module")
def s3_env(moto_url: str) -> dict[str, str]:
    """The standard AWS environment that points at a moto S3 server."""
    return {
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def record_applied_run(store: RunStore) -> str:
    run = store.start("network", RunKind.APPLY, "daemon", COMMIT, "terraform")
    store.attach(run.id, PLAN_ARTIFACT, PLAN)
    store.attach(run.id, LOG_ARTIFACT, f"terraform apply\nusing {SECRET}\n")
    store.finish(run.id, RunStatus.APPLIED)
    store.update_stack_state("network", desired_commit=COMMIT.sha)
    return run.id


def test_history_show_and_status_read_postgres_by_flag_and_by_environment(
    tmp_path: Path, url: DatabaseUrl
) -> None:
    with RunStore.open(tmp_path / "writer", database_url=url) as store:
        run_id = record_applied_run(store)
    empty_state = str(tmp_path / "reader")  # no records here: what is shown is PostgreSQL's
    by_flag = ("--state-dir", empty_state, "--database-url", url.dsn)
    outputs: list[bytes] = []
    for how, env in ((by_flag, None), (("--state-dir", empty_state), {DATABASE_URL_ENV: url.dsn})):
        history = cli("history", "--json", *how, env=env)
        assert history.returncode == 0, history.stderr
        runs = json.loads(history.stdout)["result"]["runs"]
        assert [(r["id"], r["status"]) for r in runs] == [(run_id, "applied")]
        assert runs[0]["plan_artifact"] == f"db:{run_id}/plan.json"

        status = cli("status", *how, env=env)
        assert status.returncode == 0, status.stderr
        assert status.stdout.decode().splitlines()[1].split()[:2] == ["network", "Synced"]

        shown = cli("show", run_id[:-2], *how, env=env)
        assert shown.returncode == 0, shown.stderr
        assert f"plan artifact: db:{run_id}/plan.json".encode() in shown.stdout

        plan = cli("show", run_id, "--artifact", "plan.json", *how, env=env)
        assert plan.returncode == 0, plan.stderr
        assert plan.stdout == PLAN
        outputs += [history.stdout, history.stderr, status.stdout, shown.stdout, plan.stderr]
    assert not (tmp_path / "reader" / "runs.db").exists()
    assert all(url.dsn not in out.decode() for out in outputs)
    password = url.dsn.split(":")[2].split("@")[0]
    assert all(password.encode() not in out for out in outputs)


def test_artifacts_in_s3_are_read_back_by_any_process(
    tmp_path: Path, url: DatabaseUrl, s3_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in s3_env.items():
        monkeypatch.setenv(name, value)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="run-artifacts")
    where = f"s3://run-artifacts/{tmp_path.name}"
    with RunStore.open(
        tmp_path / "writer",
        database_url=url,
        artifact_store=where,
        scrubber=Scrubber([SECRET]),
    ) as store:
        run_id = record_applied_run(store)
        assert store.get(run_id).plan_artifact == f"{where}/{run_id}/plan.json"

    key = f"{tmp_path.name}/{run_id}/log.txt"
    log_object = s3.get_object(Bucket="run-artifacts", Key=key)["Body"].read()
    assert SECRET.encode() not in log_object and b"terraform apply" in log_object

    how = ("--state-dir", str(tmp_path / "reader"), "--database-url", url.dsn)
    plan = cli("show", run_id, "--artifact", "plan.json", *how, env=s3_env)
    assert plan.returncode == 0, plan.stderr
    assert plan.stdout == PLAN
    log = cli("show", run_id, "--artifact", "log.txt", *how, env=s3_env)
    assert log.stdout == log_object
    missing = cli("show", run_id, "--artifact", "tfplan", *how, env=s3_env)
    assert missing.returncode == 1
    assert b"has no artifact 'tfplan'; it has: log.txt, plan.json" in missing.stderr


def test_files_stay_the_default_without_a_database(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with RunStore.open(state) as store:
        run_id = record_applied_run(store)
    plan = cli("show", run_id, "--artifact", "plan.json", "--state-dir", str(state))
    assert plan.returncode == 0, plan.stderr
    assert plan.stdout == PLAN == (state / "artifacts" / run_id / "plan.json").read_bytes()


def test_bad_store_flags_are_clear_errors_without_the_password(tmp_path: Path) -> None:
    state = ("--state-dir", str(tmp_path))
    unknown = cli("history", "--artifact-store", "ftp://somewhere", *state)
    assert unknown.returncode == 1  # a usage error, as Terraform exits
    assert b"expected files, database or s3://BUCKET/PREFIX" in unknown.stderr

    # Port 1 on the loopback: nothing listens, the refusal is immediate.
    unreachable = "postgresql://app:hunter2pw@127.0.0.1:1/records"
    for how, env in (
        (("--database-url", unreachable), None),
        ((), {DATABASE_URL_ENV: unreachable}),
    ):
        done = cli("history", *state, *how, env=env)
        assert done.returncode == 1
        assert b"cannot connect to postgresql://app:***@127.0.0.1:1/records" in done.stderr
        assert b"hunter2pw" not in done.stdout + done.stderr
    assert not (tmp_path / "runs.db").exists()


def test_status_of_an_empty_database_names_it_without_the_password(
    tmp_path: Path, url: DatabaseUrl
) -> None:
    done = cli("status", "--state-dir", str(tmp_path), env={DATABASE_URL_ENV: url.dsn})
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().splitlines() == [
        f"no stacks recorded yet in {url.display}",
        "",
        "no replica has reconciled a commit on this database yet",
    ]
