"""One stack definition deployed to dev, staging and prod (manifest `environments`), on
the local cloud with real Git and the embedded Terraform."""

from __future__ import annotations

import json

import pytest
from e2e_helpers import Env

pytestmark = pytest.mark.e2e

ENVIRONMENTS = """\
version: 1
defaults:
  engine: terraform
stacks:
  - name: storage
    path: stacks/storage
    variables: {name_prefix: demo}
    environments:
      - name: dev
        variables: {environment: dev}
      - name: staging
        variables: {environment: staging}
      - name: prod
        variables: {environment: prod}
        policy: {auto_apply: false}
  - name: app
    path: stacks/app
    variables:
      queue_url: {from_stack: storage, output: queue_url}
      db_password: {from_env: DEMO_DB_PASSWORD}
    environments:
      - name: dev
        variables: {environment: dev}
      - name: staging
        variables: {environment: staging}
      - name: prod
        variables: {environment: prod}
"""

INSTANCES = [f"{stack}@{env}" for stack in ("storage", "app") for env in ("dev", "staging", "prod")]


def _declare(e2e: Env) -> None:
    (e2e.repo / "gitops.yaml").write_text(ENVIRONMENTS)
    e2e.commit("storage and app in dev, staging and prod")


def _outcomes(result_stdout: str) -> dict[str, dict]:
    return {s["stack"]: s for s in json.loads(result_stdout)["result"]["stacks"]}


def test_validate_expand_lists_each_instance_with_its_dependencies(e2e: Env) -> None:
    _declare(e2e)
    shown = e2e.cli("validate", "--expand", "--json")
    assert shown.code == 0, shown.output
    stacks = {s["name"]: s for s in json.loads(shown.stdout)["result"]["stacks"]}
    assert list(stacks) == INSTANCES
    assert stacks["app@prod"]["depends_on"] == ["storage@prod"]
    assert (stacks["app@prod"]["definition"], stacks["app@prod"]["environment"]) == ("app", "prod")
    assert "prod" in stacks["app@prod"]["tags"]
    text = e2e.cli("validate", "--expand")
    assert "app@staging" in text.stdout and "storage@staging" in text.stdout


def test_each_environment_gets_its_own_state_and_resources_and_is_named_so(e2e: Env) -> None:
    _declare(e2e)
    applied = e2e.cli("apply", "--auto-approve", "--json")
    assert applied.code == 0, applied.output
    assert {name: o["status"] for name, o in _outcomes(applied.stdout).items()} == {
        name: "applied" for name in INSTANCES
    }
    buckets = {b["Name"] for b in e2e.aws("s3").list_buckets()["Buckets"]}
    assert {f"demo-{env}-artifacts" for env in ("dev", "staging", "prod")} <= buckets
    ssm = e2e.aws("ssm")
    for env in ("dev", "staging", "prod"):
        url = ssm.get_parameter(Name=f"/demo/{env}/queue_url")["Parameter"]["Value"]
        assert url.endswith(f"/demo-{env}-jobs")  # each app reads its own storage
    keys = {
        o["Key"] for o in e2e.aws("s3").list_objects_v2(Bucket=e2e.cloud.state_bucket)["Contents"]
    }
    assert {f"{name}/terraform.tfstate" for name in INSTANCES} <= keys

    history = e2e.cli("history", "--stack", "app@prod", "--json")
    runs = json.loads(history.stdout)["result"]["runs"]
    assert [(r["stack"], r["kind"]) for r in runs] == [("app@prod", "apply")]

    # Every command takes instance names, globs, and a stack's name for its instances
    # (on the stacks just applied: one apply of six instances serves both checks).
    one = e2e.cli("plan", "--stack", "storage@prod", "--json")
    assert one.code == 0, one.output
    assert list(_outcomes(one.stdout)) == ["storage@prod"]
    prod = e2e.cli("drift", "--stack", "*@prod", "--json")
    assert list(_outcomes(prod.stdout)) == ["storage@prod", "app@prod"]
    every_app = e2e.cli("plan", "--stack", "app", "--json")
    assert list(_outcomes(every_app.stdout)) == ["app@dev", "app@staging", "app@prod"]
    status = e2e.cli("status", "--stack", "storage", "--json")
    names = [s["name"] for s in json.loads(status.stdout)["result"]["stacks"]]
    assert sorted(names) == ["storage@dev", "storage@prod", "storage@staging"]

    unknown = e2e.cli("plan", "--stack", "storage@qa")
    assert unknown.code == 1
    assert "unknown stack 'storage@qa'" in unknown.output


def test_a_reference_to_a_missing_environment_is_refused_with_its_line(e2e: Env) -> None:
    staging = "      - name: staging\n        variables: {environment: staging}\n"
    broken = ENVIRONMENTS.replace(staging, "", 1)  # storage's: app keeps its staging
    assert broken != ENVIRONMENTS
    (e2e.repo / "gitops.yaml").write_text(broken)
    e2e.commit("storage without staging")
    result = e2e.cli("validate")
    assert result.code == 1
    assert (
        "stacks[1].variables.queue_url.from_stack: stack 'storage' has no environment "
        "'staging'" in result.stdout
    ), result.output
