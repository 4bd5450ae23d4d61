"""Environments pinned to a commit (`environments[].revision`): a change to a stack's
shared module reaches only the environments that follow the branch until a pin moves.
On the local cloud with real Git and the embedded Terraform."""

from __future__ import annotations

import json

import pytest
from e2e_helpers import Env, git
from test_e2e_plan_kinds import PROVIDER

pytestmark = pytest.mark.e2e

MODULE = """\
variable "env" {
  type = string
}
output "tags" {
  value = { env = var.env, tier = "TIER" }
}
"""

STACK = (
    PROVIDER
    + """
variable "env" {
  type = string
}
module "labels" {
  source = "../../modules/labels"
  env    = var.env
}
resource "aws_s3_bucket" "data" {
  bucket = "pins-${var.env}-data"
  tags   = module.labels.tags
}
"""
)


def _manifest(staging: str | None, prod: str | None) -> str:
    def pin(sha: str | None) -> str:
        return f'        revision: "{sha}"\n' if sha else ""

    return (
        "version: 1\nstacks:\n  - name: data\n    path: stacks/data\n    environments:\n"
        "      - name: dev\n        variables: {env: dev}\n"
        f"      - name: staging\n        variables: {{env: staging}}\n{pin(staging)}"
        f"      - name: prod\n        variables: {{env: prod}}\n{pin(prod)}"
    )


def _tier(e2e: Env, env: str) -> str:
    tag_set = e2e.aws("s3").get_bucket_tagging(Bucket=f"pins-{env}-data")["TagSet"]
    return {t["Key"]: t["Value"] for t in tag_set}["tier"]


def _layout(e2e: Env, tier: str) -> None:
    (e2e.repo / "modules" / "labels").mkdir(parents=True, exist_ok=True)
    (e2e.repo / "modules" / "labels" / "main.tf").write_text(MODULE.replace("TIER", tier))
    (e2e.repo / "stacks" / "data").mkdir(parents=True, exist_ok=True)
    (e2e.repo / "stacks" / "data" / "main.tf").write_text(STACK)


def test_a_shared_module_change_reaches_pinned_environments_when_their_pin_moves(
    e2e: Env,
) -> None:
    _layout(e2e, "gold")
    (e2e.repo / "gitops.yaml").write_text(_manifest(None, None))
    gold = e2e.commit("data in dev, staging and prod")
    assert e2e.cli("apply", "--auto-approve").code == 0
    (e2e.repo / "gitops.yaml").write_text(_manifest(gold, gold))
    e2e.commit("Pin staging and prod")
    _layout(e2e, "platinum")
    platinum = e2e.commit("labels: platinum tier")

    expanded = e2e.cli("validate", "--expand", "--json")
    revisions = {s["name"]: s["revision"] for s in json.loads(expanded.stdout)["result"]["stacks"]}
    assert revisions == {"data@dev": None, "data@staging": gold, "data@prod": gold}

    applied = e2e.cli("apply", "--auto-approve", "--json")
    assert applied.code == 0, applied.output
    statuses = {s["stack"]: s["status"] for s in json.loads(applied.stdout)["result"]["stacks"]}
    assert statuses == {
        "data@dev": "applied",
        "data@staging": "no-changes",
        "data@prod": "no-changes",
    }
    assert [_tier(e2e, env) for env in ("dev", "staging", "prod")] == ["platinum", "gold", "gold"]

    (e2e.repo / "gitops.yaml").write_text(_manifest(platinum, gold))
    e2e.commit("Promote data to staging")
    assert e2e.cli("apply", "--auto-approve").code == 0
    assert [_tier(e2e, env) for env in ("dev", "staging", "prod")] == [
        "platinum",
        "platinum",
        "gold",
    ]


def test_a_pin_outside_the_branch_history_is_refused_for_that_instance_only(e2e: Env) -> None:
    _layout(e2e, "gold")
    (e2e.repo / "gitops.yaml").write_text(_manifest(None, "f" * 40))
    e2e.commit("prod pinned to nothing")
    result = e2e.cli("apply", "--auto-approve", "--json")
    assert result.code == 1, result.output
    statuses = {s["stack"]: s for s in json.loads(result.stdout)["result"]["stacks"]}
    assert statuses["data@dev"]["status"] == "applied"
    assert statuses["data@prod"]["status"] == "failed"
    assert "is not a commit of" in statuses["data@prod"]["error"]
    short = e2e.cli("validate")
    assert short.code == 0  # a full SHA is valid syntax; whether it exists is the run's

    git(e2e.repo, "checkout", "-q", "-b", "side")
    _layout(e2e, "unmerged")
    side = e2e.commit("never merged")
    git(e2e.repo, "checkout", "-q", "main")
    (e2e.repo / "gitops.yaml").write_text(_manifest(None, side))
    e2e.commit("prod pinned to a commit of another branch")
    outside = e2e.cli("apply", "--auto-approve", "--stack", "data@prod")
    assert outside.code == 1
    assert "is not in the history of" in outside.stdout, outside.output
    assert "pins-prod-data" not in {b["Name"] for b in e2e.aws("s3").list_buckets()["Buckets"]}

    (e2e.repo / "gitops.yaml").write_text(_manifest(None, "main").replace('"main"', "main"))
    e2e.commit("prod pinned to a branch")
    refused = e2e.cli("validate")
    assert refused.code == 1 and "expected a full commit SHA in quotes" in refused.stdout
