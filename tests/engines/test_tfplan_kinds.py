"""Every kind of plan Terraform prints, read as Terraform means it.

Plans the embedded Terraform (1.15.5) can make are made here, for real, with the
built-in terraform_data resource: moved, import and removed blocks, create-before-destroy
and destroy-before-create replacements, nested values known only after apply, sensitive
and output-only changes. Shapes only other Terraform versions print (drift without
`address` from 0.15 to 1.0, `deferred_changes` from 1.9 with deferred actions enabled)
are hand-written in tests/engines/data from Terraform's documented JSON output format.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from test_terraform import workspace, write_stack

from infra_gitops import report
from infra_gitops.engines.base import StackWorkspace
from infra_gitops.engines.terraform import TerraformEngine
from infra_gitops.engines.tfplan import parse_plan
from infra_gitops.models import (
    SENSITIVE_MARKER,
    UNKNOWN_MARKER,
    Action,
    ChangeCounts,
    Plan,
    ResourceChange,
)

DATA = Path(__file__).parent / "data"

BEFORE = """
resource "terraform_data" "a" {
  input = "a"
}
resource "terraform_data" "cbd" {
  triggers_replace = [var.generation]
  lifecycle {
    create_before_destroy = true
  }
}
resource "terraform_data" "kept" {
  input = "kept"
}
resource "terraform_data" "dbc" {
  triggers_replace = [var.generation]
}
variable "generation" {
  type    = number
  default = 1
}
output "generation" {
  value = var.generation
}
"""

AFTER = """
resource "terraform_data" "renamed" {
  input = "a"
}
moved {
  from = terraform_data.a
  to   = terraform_data.renamed
}
resource "terraform_data" "cbd" {
  triggers_replace = [var.generation]
  lifecycle {
    create_before_destroy = true
  }
}
removed {
  from = terraform_data.kept
  lifecycle {
    destroy = false
  }
}
resource "terraform_data" "dbc" {
  triggers_replace = [var.generation]
}
resource "terraform_data" "uses" {
  input = { ref = terraform_data.dbc.id, fixed = "x" }
}
import {
  to = terraform_data.adopted
  id = "existing-id"
}
resource "terraform_data" "adopted" {
}
variable "generation" {
  type    = number
  default = 2
}
output "generation" {
  value = var.generation
}
output "token" {
  value     = "tok-secret-4e1b9a"
  sensitive = true
}
"""


def _terraform_summary(ws: StackWorkspace) -> str:
    """The summary line Terraform itself printed for the last plan."""
    assert ws.log_file is not None
    lines = re.findall(r"^Plan: .*$", ws.log_file.read_text(), re.MULTILINE)
    return lines[-1]


def _by_address(changes: tuple[ResourceChange, ...]) -> dict[str, ResourceChange]:
    return {c.address: c for c in changes}


@pytest.fixture
def refactored(tmp_path: Path) -> tuple[StackWorkspace, Plan]:
    """A stack applied with BEFORE, then planned with AFTER."""
    source = write_stack(tmp_path / "repo", "stacks/app", BEFORE)
    ws = workspace(tmp_path, source, log_file=tmp_path / "logs" / "app.log")
    engine = TerraformEngine()
    engine.prepare(ws)
    engine.apply(ws, engine.plan(ws))
    (source / "main.tf").write_text(AFTER)
    return ws, engine.plan(ws)


@pytest.mark.e2e
def test_moves_imports_forgets_and_both_replacements_are_read_as_terraform_means_them(
    refactored: tuple[StackWorkspace, Plan],
) -> None:
    ws, plan = refactored
    changes = _by_address(plan.changes)
    assert {a: c.action for a, c in changes.items()} == {
        "terraform_data.renamed": Action.NOOP,  # moved, nothing else: still a change
        "terraform_data.adopted": Action.NOOP,  # imported, nothing else
        "terraform_data.kept": Action.FORGET,  # removed with destroy = false
        "terraform_data.cbd": Action.REPLACE,  # ["create", "delete"]
        "terraform_data.dbc": Action.REPLACE,  # ["delete", "create"]
        "terraform_data.uses": Action.CREATE,
    }
    assert changes["terraform_data.renamed"].previous_address == "terraform_data.a"
    assert changes["terraform_data.renamed"].moved
    assert changes["terraform_data.adopted"].importing == "existing-id"
    assert changes["terraform_data.cbd"].action_reason == "replace_because_cannot_update"
    assert changes["terraform_data.cbd"].create_before_destroy
    assert not changes["terraform_data.dbc"].create_before_destroy
    assert plan.counts == ChangeCounts(
        create=1, replace=2, imported=1, moved=1, forget=1, outputs=2
    )
    # Terraform's own line for this very plan, word for word.
    assert plan.counts.terraform_summary() == _terraform_summary(ws)

    # A value inside a map known only after apply is marked, not null.
    uses = changes["terraform_data.uses"]
    assert uses.unknown_paths == ("id", "input.ref", "output")
    assert uses.after is not None
    assert uses.after["input"] == {"ref": UNKNOWN_MARKER, "fixed": "x"}

    outputs = {o.name: o for o in plan.output_changes}
    assert outputs["generation"].action is Action.UPDATE
    assert (outputs["generation"].before, outputs["generation"].after) == (1, 2)
    assert outputs["token"].sensitive and outputs["token"].after == SENSITIVE_MARKER
    assert "tok-secret-4e1b9a" not in repr(plan)

    text = "\n".join(report.render_plan(plan))
    assert "terraform_data.renamed (moved from terraform_data.a)" in text
    assert "terraform_data.adopted (import existing-id)" in text
    assert "not destroyed" in text
    assert "+/- terraform_data.cbd (replace, create before destroy)" in text
    assert "-/+ terraform_data.dbc (replace)" in text
    assert "output token = (sensitive value)" in text
    assert f"{UNKNOWN_MARKER}: id, input.ref, output" in text


@pytest.mark.e2e
def test_a_plan_that_only_changes_outputs_has_changes_and_applies(tmp_path: Path) -> None:
    source = write_stack(tmp_path / "repo", "stacks/app", BEFORE)
    ws = workspace(tmp_path, source)
    engine = TerraformEngine()
    engine.prepare(ws)
    engine.apply(ws, engine.plan(ws))
    (source / "outputs.tf").write_text('output "extra" {\n  value = terraform_data.a.output\n}\n')

    plan = engine.plan(ws)
    assert plan.changes == ()
    assert plan.has_changes
    assert [(o.name, o.action, o.after) for o in plan.output_changes] == [
        ("extra", Action.CREATE, "a")
    ]
    result = engine.apply(ws, plan)
    assert result.outputs["extra"] == "a"
    assert not engine.plan(ws).has_changes


def test_drift_without_address_from_terraform_0_15_to_1_0_is_parsed() -> None:
    doc = json.loads((DATA / "plan_drift_v0_15.json").read_text())
    plan = parse_plan(doc, stack="app", engine="terraform", engine_version="terraform 0.15.5")
    drift = _by_address(plan.drift)
    assert set(drift) == {
        'module.net.aws_s3_bucket.logs["eu"]',
        "aws_sqs_queue.jobs[0]",
        "aws_s3_bucket.deleted",
    }
    assert drift['module.net.aws_s3_bucket.logs["eu"]'].changed_paths == ("tags.env",)
    assert drift["aws_s3_bucket.deleted"].action is Action.DELETE
    assert plan.changes == ()


def test_deferred_changes_are_shown_as_deferred_and_never_planned() -> None:
    doc = json.loads((DATA / "plan_deferred_v1_9.json").read_text())
    plan = parse_plan(doc, stack="app", engine="terraform", engine_version="terraform 1.9.0")
    assert [c.address for c in plan.changes] == ["terraform_data.known"]
    deferred = _by_address(plan.deferred)
    assert set(deferred) == {"terraform_data.later[0]", "module.m.terraform_data.cfg"}
    assert deferred["terraform_data.later[0]"].deferred_reason == "instance_count_unknown"
    assert deferred["module.m.terraform_data.cfg"].after == {
        "input": UNKNOWN_MARKER,
        "id": UNKNOWN_MARKER,
    }
    assert plan.counts == ChangeCounts(create=1, deferred=2)
    assert "secret-in-deferred" not in repr(plan)

    text = "\n".join(report.render_plan(plan))
    assert "Deferred to a later plan (2): not applied with this plan" in text
    assert "deferred: instance_count_unknown" in text
