"""Plans reported as Terraform means them, through the real CLI on the sandbox: an
output-only change is a change that gets applied (and unblocks the stack reading it),
values known only after apply are said to be so, never shown as null."""

from __future__ import annotations

import json
import shutil
import textwrap

import pytest
from e2e_helpers import Env

pytestmark = pytest.mark.e2e

PROVIDER = """
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = ">= 5.0" }
  }
  backend "s3" {}
}
provider "aws" {
  region = "us-east-1"
}
"""

BASE = (
    PROVIDER
    + """
resource "aws_s3_bucket" "data" {
  bucket = "b8-base-data"
}
"""
)

BASE_OUTPUT = """
output "bucket_name" {
  value = aws_s3_bucket.data.bucket
}
"""

CONSUMER = (
    PROVIDER
    + """
variable "bucket_name" {
  type = string
}
resource "aws_ssm_parameter" "bucket" {
  name  = "/b8/base_bucket"
  type  = "String"
  value = var.bucket_name
}
"""
)

MANIFEST = """
version: 1
stacks:
  - name: base
    path: stacks/base
  - name: consumer
    path: stacks/consumer
    variables:
      bucket_name: {from_stack: base, output: bucket_name}
"""


def _two_stacks(e2e: Env) -> None:
    shutil.rmtree(e2e.repo / "stacks")
    for name, text in (("base", BASE), ("consumer", CONSUMER)):
        (e2e.repo / "stacks" / name).mkdir(parents=True)
        (e2e.repo / "stacks" / name / "main.tf").write_text(text)
    (e2e.repo / "gitops.yaml").write_text(textwrap.dedent(MANIFEST))
    e2e.commit("A base stack and a consumer of an output it does not have yet")


def _stacks(result_stdout: str) -> dict[str, dict[str, object]]:
    doc = json.loads(result_stdout)
    return {s["stack"]: s for s in doc["result"]["stacks"]}


def test_an_output_only_commit_is_applied_and_its_dependent_stack_then_plans(e2e: Env) -> None:
    _two_stacks(e2e)
    first = e2e.cli("apply", "--auto-approve")
    # consumer waits on an output base does not have: skipped, so apply exits 1.
    assert first.code == 1, first.output
    assert e2e.aws("s3").head_bucket(Bucket="b8-base-data")
    assert not e2e.aws("ssm").describe_parameters()["Parameters"]

    (e2e.repo / "stacks" / "base" / "outputs.tf").write_text(BASE_OUTPUT)
    e2e.commit("base: expose the bucket name")

    planned = e2e.cli("plan", "--stack", "base", "--json")
    assert planned.code == 2, planned.output  # what terraform plan -detailed-exitcode says
    base = _stacks(planned.stdout)["base"]
    assert base["status"] == "changes"
    plan = base["plan"]
    assert plan["changes"] == []
    assert plan["counts"]["outputs"] == 1
    assert plan["output_changes"] == [
        {
            "name": "bucket_name",
            "action": "create",
            "before": None,
            "after": "b8-base-data",
            "sensitive": False,
            "unknown": False,
        }
    ]

    applied = e2e.cli("apply", "--auto-approve", "--json")
    assert applied.code == 0, applied.output
    stacks = _stacks(applied.stdout)
    assert stacks["base"]["status"] == "applied"
    assert stacks["consumer"]["status"] == "applied"
    parameter = e2e.aws("ssm").get_parameter(Name="/b8/base_bucket")["Parameter"]
    assert parameter["Value"] == "b8-base-data"

    # The output is in base's state now: consumer plans on its own, with nothing to do.
    again = e2e.cli("plan", "--stack", "consumer")
    assert again.code == 0, again.output
    history = json.loads(e2e.cli("history", "--stack", "base", "--json").stdout)
    runs = history["result"]["runs"]
    output_apply = runs[0]
    assert output_apply["kind"] == "apply" and output_apply["status"] == "applied"
    assert output_apply["counts"]["outputs"] == 1
    assert output_apply["output_changes"][0]["name"] == "bucket_name"


def test_known_after_apply_appears_in_a_plan_that_has_unknown_values(e2e: Env) -> None:
    _two_stacks(e2e)
    text = e2e.cli("plan", "--stack", "base")
    assert text.code == 2, text.output
    # The new bucket's arn and id come from the cloud: Terraform knows them after apply.
    assert "(known after apply): arn, id" in text.stdout

    as_json = e2e.cli("plan", "--stack", "base", "--json")
    change = _stacks(as_json.stdout)["base"]["plan"]["changes"][0]  # type: ignore[index]
    assert change["address"] == "aws_s3_bucket.data"
    assert change["unknown_paths"] == ["arn", "id"]
    assert change["after"]["arn"] == "(known after apply)"
    assert change["after"]["id"] == "(known after apply)"


def test_two_stacks_with_the_same_state_are_rejected_by_validate(e2e: Env) -> None:
    manifest = e2e.repo / "gitops.yaml"
    text = manifest.read_text().replace(
        "defaults:\n", "defaults:\n  backend: {key: shared/terraform.tfstate}\n", 1
    )
    manifest.write_text(text)
    e2e.commit("Both stacks in one state by mistake")

    result = e2e.cli("validate")
    assert result.code == 1, result.output
    assert "stacks 'storage' (gitops.yaml:" in result.stdout
    assert "and 'app' would share one state" in result.stdout
    # Nothing runs on such a manifest: no plan, no apply, nothing in the cloud.
    applied = e2e.cli("apply", "--auto-approve")
    assert applied.code == 1, applied.output
    assert [b["Name"] for b in e2e.aws("s3").list_buckets()["Buckets"]] == [e2e.cloud.state_bucket]
