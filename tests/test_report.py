"""The --json envelope is a contract: its top-level shape is pinned here."""

from __future__ import annotations

import json

from infra_gitops import report
from infra_gitops.models import Action, Plan, ResourceChange, RunKind, RunStatus, StackOutcome


def _plan() -> Plan:
    drifted = ResourceChange(
        address="aws_s3_bucket.data",
        type="aws_s3_bucket",
        name="data",
        action=Action.UPDATE,
        changed_paths=("tags.environment",),
        before={"tags": {"environment": "dev"}},
        after={"tags": {"environment": "hand-edited"}},
    )
    created = ResourceChange("aws_sqs_queue.q", "aws_sqs_queue", "q", Action.CREATE)
    return Plan("storage", (created,), (drifted,), {"queue_url": None}, "terraform", "1.15.5")


def test_envelope_top_level_shape_is_pinned() -> None:
    doc = json.loads(report.envelope("plan", 2, {"stacks": []}))
    assert doc == {
        "schema": "infra-gitops/v1",
        "command": "plan",
        "ok": True,
        "exit_code": 2,
        "result": {"stacks": []},
    }
    assert json.loads(report.envelope("plan", 1, {}))["ok"] is False


def test_outcome_dict_carries_counts_changes_and_drift() -> None:
    outcome = StackOutcome("storage", RunKind.PLAN, RunStatus.CHANGES, "r1", _plan())
    doc = report.outcome_to_dict(outcome)
    assert doc["status"] == "changes"
    assert doc["plan"]["counts"] == {
        "create": 1,
        "update": 0,
        "replace": 0,
        "delete": 0,
        "import": 0,
        "move": 0,
        "forget": 0,
        "outputs": 0,
        "deferred": 0,
    }
    assert doc["plan"]["drift"][0]["changed_paths"] == ["tags.environment"]


def test_terminal_report_shows_drift_before_and_after() -> None:
    text = report.render_outcome(
        StackOutcome("storage", RunKind.DRIFT, RunStatus.DRIFTED, "r1", _plan())
    )
    assert "storage: DRIFTED" in text
    assert 'tags.environment: "dev" -> "hand-edited"' in text
    assert "+ aws_sqs_queue.q (create)" in text
