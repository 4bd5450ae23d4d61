"""The loop a platform engineer runs: plan, apply, drift, heal, history (real everything)."""

from __future__ import annotations

import json

import pytest
from e2e_helpers import Env, bucket_name, git, tags

pytestmark = pytest.mark.e2e


def test_plan_on_a_fresh_cloud_reports_changes_and_waits_on_dependencies(e2e: Env) -> None:
    result = e2e.cli("plan", "--json")
    assert result.code == 2, result.output
    doc = json.loads(result.stdout)
    assert doc["schema"] == "infra-gitops/v1" and doc["exit_code"] == 2
    stacks = {s["stack"]: s for s in doc["result"]["stacks"]}
    assert stacks["storage"]["status"] == "changes"
    assert stacks["storage"]["plan"]["counts"]["create"] == 2
    created = {c["address"] for c in stacks["storage"]["plan"]["changes"]}
    assert created == {"aws_s3_bucket.artifacts", "aws_sqs_queue.jobs"}
    # app takes storage's queue_url, which does not exist before storage is applied.
    assert stacks["app"]["status"] == "skipped"
    assert "waiting on storage" in stacks["app"]["error"]
    # A plan changes nothing in the cloud.
    assert [b["Name"] for b in e2e.aws("s3").list_buckets()["Buckets"]] == ["infra-gitops-state"]


def test_apply_creates_resources_in_dependency_order_then_plan_is_clean(e2e: Env) -> None:
    result = e2e.cli("apply", "--auto-approve")
    assert result.code == 0, result.output
    assert result.stdout.index("storage: applied") < result.stdout.index("app: applied")

    bucket = bucket_name(e2e)
    assert bucket == "demo-dev-artifacts"
    assert tags(e2e, bucket) == {
        "environment": "dev",
        "managed_by": "infra-gitops",
        "stack": "storage",
    }
    queue_url = e2e.aws("sqs").get_queue_url(QueueName="demo-dev-jobs")["QueueUrl"]
    attrs = e2e.aws("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])
    assert attrs["Attributes"]["VisibilityTimeout"] == "60"
    # app got storage's output through the manifest's from_stack variable.
    param = e2e.aws("ssm").get_parameter(Name="/demo/dev/queue_url")["Parameter"]
    assert param["Value"] == queue_url
    secret = e2e.aws("ssm").get_parameter(Name="/demo/dev/db_password")["Parameter"]
    assert secret["Type"] == "SecureString"

    again = e2e.cli("plan")
    assert again.code == 0, again.output
    assert "storage: no changes" in again.stdout and "app: no changes" in again.stdout


def test_tags_changed_by_hand_are_drift_with_before_and_after_then_healed(applied: Env) -> None:
    e2e = applied
    bucket = bucket_name(e2e)
    e2e.aws("s3").put_bucket_tagging(
        Bucket=bucket,
        Tagging={"TagSet": [{"Key": "environment", "Value": "hand-edited"}]},
    )

    result = e2e.cli("drift", "--json")
    assert result.code == 2, result.output
    stacks = {s["stack"]: s for s in json.loads(result.stdout)["result"]["stacks"]}
    assert stacks["storage"]["status"] == "drifted"
    assert stacks["app"]["status"] == "no-changes"
    (drifted,) = stacks["storage"]["plan"]["drift"]
    assert drifted["address"] == "aws_s3_bucket.artifacts"
    assert "tags.environment" in drifted["changed_paths"]
    assert drifted["before"]["tags"]["environment"] == "dev"
    assert drifted["after"]["tags"] == {"environment": "hand-edited"}
    # Detecting drift does not touch the cloud.
    assert tags(e2e, bucket) == {"environment": "hand-edited"}

    text = e2e.cli("drift", "--stack", "storage")
    assert 'tags.environment: "dev" -> "hand-edited"' in text.stdout

    healed = e2e.cli("drift", "--heal")
    assert healed.code == 2, healed.output
    assert "storage: DRIFTED, healed" in healed.stdout
    assert tags(e2e, bucket) == {
        "environment": "dev",
        "managed_by": "infra-gitops",
        "stack": "storage",
    }
    after = e2e.cli("drift")
    assert after.code == 0, after.output


def test_a_resource_deleted_out_of_band_is_drift_and_heal_recreates_it(applied: Env) -> None:
    e2e = applied
    e2e.aws("ssm").delete_parameter(Name="/demo/dev/queue_url")

    result = e2e.cli("drift", "--stack", "app", "--json")
    assert result.code == 2, result.output
    (stack,) = json.loads(result.stdout)["result"]["stacks"]
    (gone,) = stack["plan"]["drift"]
    assert gone["address"] == "aws_ssm_parameter.queue_url"
    assert gone["action"] == "delete"

    healed = e2e.cli("drift", "--stack", "app", "--heal")
    assert healed.code == 2, healed.output
    assert e2e.aws("ssm").get_parameter(Name="/demo/dev/queue_url")["Parameter"]["Value"]


def test_history_records_every_run_against_its_commit(applied: Env) -> None:
    e2e = applied
    first_sha = git(e2e.repo, "rev-parse", "HEAD").strip()
    variables = e2e.repo / "stacks" / "storage" / "variables.tf"
    variables.write_text(variables.read_text().replace('default     = "dev"', 'default     = "qa"'))
    gitops = e2e.repo / "gitops.yaml"
    gitops.write_text(gitops.read_text().replace("environment: dev", "environment: qa"))
    second_sha = e2e.commit("Rename the environment to qa", author="Bob Builder <bob@example.com>")

    planned = e2e.cli("plan", "--stack", "storage")
    assert planned.code == 2, planned.output

    history = e2e.cli("history", "--json")
    assert history.code == 0, history.output
    runs = json.loads(history.stdout)["result"]["runs"]
    # Newest first: the plan at the second commit, then the two applies at the first.
    assert [(r["stack"], r["kind"], r["status"]) for r in runs] == [
        ("storage", "plan", "changes"),
        ("app", "apply", "applied"),
        ("storage", "apply", "applied"),
    ]
    assert runs[0]["commit"]["sha"] == second_sha
    assert runs[0]["commit"]["author"] == "Bob Builder"
    assert runs[0]["commit"]["message"].startswith("Rename the environment")
    assert {r["commit"]["sha"] for r in runs[1:]} == {first_sha}
    assert runs[1]["commit"]["author"] == "Alice Admin"

    shown = e2e.cli("show", runs[0]["id"])
    assert shown.code == 0, shown.output
    assert second_sha in shown.stdout
    assert "aws_s3_bucket.artifacts" in shown.stdout

    only_app = json.loads(e2e.cli("history", "--stack", "app", "--json").stdout)
    assert [r["stack"] for r in only_app["result"]["runs"]] == ["app"]


def test_plan_of_an_older_commit_with_ref(applied: Env) -> None:
    e2e = applied
    first_sha = git(e2e.repo, "rev-parse", "HEAD").strip()
    main_tf = e2e.repo / "stacks" / "storage" / "main.tf"
    main_tf.write_text(
        main_tf.read_text().replace(
            "visibility_timeout_seconds = 60", "visibility_timeout_seconds = 90"
        )
    )
    e2e.commit("Longer visibility timeout")

    assert e2e.cli("plan", "--stack", "storage").code == 2
    old = e2e.cli("plan", "--stack", "storage", "--ref", first_sha, "--json")
    assert old.code == 0, old.output
    (run,) = json.loads(e2e.cli("history", "--limit", "1", "--json").stdout)["result"]["runs"]
    assert run["commit"]["sha"] == first_sha


def test_uncommitted_edits_are_planned_and_marked_dirty(applied: Env) -> None:
    e2e = applied
    main_tf = e2e.repo / "stacks" / "storage" / "main.tf"
    main_tf.write_text(
        main_tf.read_text().replace(
            "visibility_timeout_seconds = 60", "visibility_timeout_seconds = 120"
        )
    )
    result = e2e.cli("plan", "--stack", "storage", "--json")
    assert result.code == 2, result.output
    (stack,) = json.loads(result.stdout)["result"]["stacks"]
    (change,) = stack["plan"]["changes"]
    assert change["changed_paths"] == ["visibility_timeout_seconds"]
    (run,) = json.loads(e2e.cli("history", "--limit", "1", "--json").stdout)["result"]["runs"]
    assert run["commit"]["dirty"] is True
    # The user's checkout holds no working files of the engine.
    assert not list(e2e.repo.rglob(".terraform"))
    assert not list(e2e.repo.rglob("*override*"))
