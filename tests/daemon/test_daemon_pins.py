"""The daemon and pinned environments: a commit changing a shared module is applied to
the environment that follows the branch only; moving a pin applies that environment
only (a real daemon process on the local cloud)."""

from __future__ import annotations

import pytest
from daemon_helpers import World, git, wait_for

pytestmark = pytest.mark.e2e

STACK = """
terraform {
  required_providers {
    aws = { source = "hashicorp/aws" }
  }
  backend "s3" {}
}
variable "env" {
  type = string
}
module "labels" {
  source = "../../modules/labels"
  env    = var.env
}
resource "aws_s3_bucket" "data" {
  bucket = "dpins-${var.env}-data"
  tags   = module.labels.tags
}
"""

MODULE = """
variable "env" {
  type = string
}
output "tags" {
  value = { env = var.env, tier = "TIER" }
}
"""


def _manifest(staging: str, prod: str) -> str:
    return (
        "version: 1\ndefaults:\n  policy: {auto_apply: true}\nstacks:\n"
        "  - name: data\n    path: stacks/data\n    environments:\n"
        "      - name: dev\n        variables: {env: dev}\n"
        "      - name: staging\n        variables: {env: staging}\n"
        f'        revision: "{staging}"\n'
        "      - name: prod\n        variables: {env: prod}\n"
        f'        revision: "{prod}"\n'
    )


def _write(world: World, tier: str) -> None:
    (world.work / "modules" / "labels").mkdir(parents=True, exist_ok=True)
    (world.work / "modules" / "labels" / "main.tf").write_text(MODULE.replace("TIER", tier))
    (world.work / "stacks" / "data").mkdir(parents=True, exist_ok=True)
    (world.work / "stacks" / "data" / "main.tf").write_text(STACK)


def _tiers(world: World) -> list[str | None]:
    s3 = world.aws("s3")
    found: list[str | None] = []
    for env in ("dev", "staging", "prod"):
        try:
            tag_set = s3.get_bucket_tagging(Bucket=f"dpins-{env}-data")["TagSet"]
        except Exception:  # noqa: BLE001 - not created yet
            found.append(None)
            continue
        found.append({t["Key"]: t["Value"] for t in tag_set}.get("tier"))
    return found


def _promote(world: World, source: str, target: str) -> str:
    done = world.cli(
        "promote", "data", "--from", source, "--to", target, "--push", "--repo", str(world.work)
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "pushed to main" in done.stdout
    return git(world.work, "rev-parse", "HEAD").strip()


def test_pins_decide_which_environments_a_commit_reaches(world: World) -> None:
    _write(world, "gold")
    (world.work / "gitops.yaml").write_text("version: 1\nstacks: []\n")
    gold = world.commit_and_push("The labels module and the data stack, not deployed yet")
    (world.work / "gitops.yaml").write_text(_manifest(gold, gold))
    declared = world.commit_and_push("data in dev, staging and prod, at gold")
    daemon = world.start_daemon("--poll-interval", "1")
    instances = ("data@dev", "data@staging", "data@prod")
    wait_for("every environment applied", lambda: world.synced_at(declared, *instances))
    assert _tiers(world) == ["gold", "gold", "gold"]

    _write(world, "platinum")
    platinum = world.commit_and_push("labels: platinum tier")
    wait_for("dev applied", lambda: world.synced_at(platinum, "data@dev"))
    assert _tiers(world) == ["platinum", "gold", "gold"]
    assert world.runs(stack="data@staging", commit=platinum) == []
    assert str(world.views()["data@staging"].status) == "Synced"

    promoted = _promote(world, "dev", "staging")
    assert (world.work / "gitops.yaml").read_text() == _manifest(platinum, gold)
    wait_for("staging applied", lambda: _tiers(world) == ["platinum", "platinum", "gold"])
    assert world.runs(stack="data@prod", commit=promoted) == []
    assert world.runs(stack="data@dev", commit=promoted) == []

    wait_for("staging Synced", lambda: world.synced_at(promoted, "data@staging"))
    status, shown = daemon.get("/api/environments")
    assert status == 200
    waiting = {e["instance"]: e["waiting"] for e in shown["environments"]}
    assert waiting == {
        "data@dev": None,
        "data@staging": None,
        "data@prod": f"data@staging runs {platinum[:10]}",
    }
    _promote(world, "staging", "prod")
    wait_for("prod applied", lambda: _tiers(world) == ["platinum", "platinum", "platinum"])

    # Rolling prod back moves its pin back (a revert commit of its manifest entry only);
    # dev and staging, which share its files, are left as they are.
    done = world.cli("rollback", "data@prod", "--to", promoted, "--reason", "platinum broke prod")
    assert done.returncode == 0, done.stdout + done.stderr
    assert _tiers(world) == ["platinum", "platinum", "gold"]
    assert git(world.remote, "show", "main:gitops.yaml") == _manifest(platinum, gold)
    assert [r.stack for r in world.runs() if r.trigger == "rollback"] == ["data@prod"]
