"""Expected drift (policy ignore_drift), on the local cloud with the embedded Terraform:
recorded, not counted, not healed; other drift in the same resource still healed."""

from __future__ import annotations

import json

import pytest
from e2e_helpers import Env, bucket_name, tags
from test_e2e_plan_kinds import PROVIDER

from infra_gitops.sandbox.provider_names import PROVIDER_SOURCE

pytestmark = pytest.mark.e2e

_IGNORE = """    policy:
      ignore_drift:
        - tags.CostCenter
        - {type: aws_sqs_queue, path: visibility_timeout_seconds}
"""


def _ignoring(e2e: Env) -> None:
    manifest = e2e.repo / "gitops.yaml"
    text = manifest.read_text()
    anchor = "      environment: dev\n"
    assert anchor in text
    manifest.write_text(text.replace(anchor, anchor + _IGNORE, 1))
    e2e.commit("storage: CostCenter tags are set by the finance tool")


def _hand_tag(e2e: Env, bucket: str, **changes: str) -> None:
    current = tags(e2e, bucket)
    current.update(changes)
    e2e.aws("s3").put_bucket_tagging(
        Bucket=bucket, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in current.items()]}
    )


def _storage(result_stdout: str) -> dict:
    stacks = {s["stack"]: s for s in json.loads(result_stdout)["result"]["stacks"]}
    return stacks["storage"]


def test_expected_drift_is_recorded_but_not_drifted_and_not_healed(applied: Env) -> None:
    e2e = applied
    _ignoring(e2e)
    bucket = bucket_name(e2e)
    _hand_tag(e2e, bucket, CostCenter="finance-42")

    checked = e2e.cli("drift", "--heal", "--json")
    assert checked.code == 0, checked.output  # nothing that counts
    storage = _storage(checked.stdout)
    assert storage["status"] == "no-changes"
    (seen,) = storage["plan"]["drift"]  # recorded, visible on request
    assert seen["address"] == "aws_s3_bucket.artifacts"
    assert seen["ignored_paths"] == ["tags.CostCenter"]
    assert tags(e2e, bucket)["CostCenter"] == "finance-42"  # not healed

    text = e2e.cli("drift", "--stack", "storage")
    assert text.code == 0, text.output
    assert "Expected drift" in text.stdout and "tags.CostCenter" not in text.stdout
    shown = e2e.cli("drift", "--stack", "storage", "--show-ignored")
    assert "tags.CostCenter" in shown.stdout, shown.output

    history = e2e.cli("history", "--stack", "storage", "--json")
    last = json.loads(history.stdout)["result"]["runs"][0]
    assert last["kind"] == "drift" and last["status"] == "no-changes"
    assert last["drift"][0]["ignored_paths"] == ["tags.CostCenter"]


def test_a_heal_restores_other_drift_and_keeps_the_expected_one(applied: Env) -> None:
    e2e = applied
    _ignoring(e2e)
    bucket = bucket_name(e2e)
    _hand_tag(e2e, bucket, CostCenter="finance-42", environment="hand-edited")

    healed = e2e.cli("drift", "--heal", "--json")
    assert healed.code == 2, healed.output  # drift found (and healed)
    storage = _storage(healed.stdout)
    assert storage["status"] == "drifted"
    (seen,) = storage["plan"]["drift"]
    assert set(seen["changed_paths"]) == {"tags.CostCenter", "tags.environment"}
    assert seen["ignored_paths"] == ["tags.CostCenter"]
    assert storage["heal_plan"]["changes"][0]["changed_paths"] == ["tags.environment"]

    live = tags(e2e, bucket)
    assert live["environment"] == "dev"  # healed
    assert live["CostCenter"] == "finance-42"  # kept
    after = e2e.cli("drift", "--json")
    assert after.code == 0, after.output
    # The override that kept it lived for that one plan only.
    assert not list(e2e.state_dir.rglob("zz_infra_gitops_keep_live_override.tf"))


def test_an_apply_of_a_new_commit_keeps_expected_drift(applied: Env) -> None:
    e2e = applied
    _ignoring(e2e)
    bucket = bucket_name(e2e)
    _hand_tag(e2e, bucket, CostCenter="finance-42")
    main_tf = e2e.repo / "stacks" / "storage" / "main.tf"
    main_tf.write_text(main_tf.read_text().replace('stack       = "storage"', 'stack = "store"'))
    e2e.commit("storage: rename the stack tag")

    applied_again = e2e.cli("apply", "--auto-approve", "--stack", "storage")
    assert applied_again.code == 0, applied_again.output
    live = tags(e2e, bucket)
    assert live["stack"] == "store" and live["CostCenter"] == "finance-42"


def test_the_type_of_a_rule_limits_it(applied: Env) -> None:
    e2e = applied
    _ignoring(e2e)
    sqs = e2e.aws("sqs")
    (url,) = sqs.list_queues()["QueueUrls"][:1] or [None]
    assert url is not None
    queue = next(u for u in sqs.list_queues()["QueueUrls"] if u.endswith("-jobs"))
    sqs.set_queue_attributes(QueueUrl=queue, Attributes={"VisibilityTimeout": "99"})

    checked = e2e.cli("drift", "--stack", "storage", "--json")
    assert checked.code == 0, checked.output
    (seen,) = _storage(checked.stdout)["plan"]["drift"]
    assert seen["address"] == "aws_sqs_queue.jobs"
    assert seen["ignored_paths"] == ["visibility_timeout_seconds"]


def test_status_reads_synced_with_only_expected_drift(applied: Env) -> None:
    e2e = applied
    _ignoring(e2e)
    _hand_tag(e2e, bucket_name(e2e), CostCenter="finance-42")
    assert e2e.cli("drift").code == 0
    status = e2e.cli("status", "--json")
    views = {s["name"]: s for s in json.loads(status.stdout)["result"]["stacks"]}
    assert views["storage"]["status"] == "Synced", views["storage"]


_MODULE_STACK = """
  - name: wrapped
    path: stacks/wrapped
    policy:
      ignore_drift: [tags.CostCenter]
"""


def test_a_heal_that_cannot_keep_expected_drift_is_refused(e2e: Env) -> None:
    """A resource in a child module cannot be overridden from the root: the heal would
    set the expected tag back too, so it is refused and nothing is applied."""
    stack = e2e.repo / "stacks" / "wrapped"
    (stack / "bucket").mkdir(parents=True)
    (stack / "main.tf").write_text(PROVIDER + 'module "bucket" {\n  source = "./bucket"\n}\n')
    # The sandbox swaps hashicorp/aws for its provider in the root module only.
    (stack / "bucket" / "main.tf").write_text(
        f'terraform {{\n  required_providers {{\n    aws = {{ source = "{PROVIDER_SOURCE}" }}\n'
        "  }\n}\n"
        'resource "aws_s3_bucket" "this" {\n  bucket = "e2e-wrapped-bucket"\n'
        '  tags = { team = "platform" }\n}\n'
    )
    manifest = e2e.repo / "gitops.yaml"
    manifest.write_text(manifest.read_text() + _MODULE_STACK)
    e2e.commit("A stack whose bucket lives in a module")
    made = e2e.cli("apply", "--auto-approve", "--stack", "wrapped")
    assert made.code == 0, made.output
    s3 = e2e.aws("s3")
    s3.put_bucket_tagging(
        Bucket="e2e-wrapped-bucket",
        Tagging={"TagSet": [{"Key": "team", "Value": "x"}, {"Key": "CostCenter", "Value": "f"}]},
    )

    healed = e2e.cli("drift", "--stack", "wrapped", "--heal")
    assert healed.code == 1, healed.output
    assert "not healed" in healed.stdout and "module.bucket.aws_s3_bucket.this" in healed.stdout
    live = {
        t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket="e2e-wrapped-bucket")["TagSet"]
    }
    assert live == {"team": "x", "CostCenter": "f"}  # nothing applied
