"""The pull request report: golden files pin its Markdown (UPDATE_GOLDEN=1 regenerates
them); the size cap and the redaction are checked on their own."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from infra_gitops.ci import markdown
from infra_gitops.ci.result import PlanReport
from infra_gitops.models import (
    SENSITIVE_MARKER,
    UNKNOWN_MARKER,
    Action,
    OutputChange,
    Plan,
    ResourceChange,
    RunKind,
    RunStatus,
    StackOutcome,
)
from infra_gitops.policy import Violation

GOLDEN = Path(__file__).parent / "golden"
HEAD = "9e37808a247a442d8bb0c931194c6b5d8d5a469a"
BASE = "2fd1c0e9729e58bbb0ee1e87c7ab28cdf3e0ab8d"


def _change(address: str, action: Action, *paths: str) -> ResourceChange:
    kind, name = address.rsplit(".", 1)
    return ResourceChange(
        address,
        kind.split(".")[-1],
        name,
        action,
        paths,
        before={"value": SENSITIVE_MARKER},
        after={"value": SENSITIVE_MARKER},
    )


def _plan(stack: str, changes: list[ResourceChange], drift: list[ResourceChange] = ()) -> Plan:  # type: ignore[assignment]
    return Plan(stack, tuple(changes), tuple(drift), {}, "terraform", "terraform 1.15.5")


def _outcome(
    stack: str, status: RunStatus, plan: Plan | None = None, error: str | None = None
) -> StackOutcome:
    return StackOutcome(
        stack, RunKind.PLAN, status, f"20261123T120000Z-{stack[:6]:0<6}", plan, error=error
    )


def _risky() -> PlanReport:
    storage = _plan(
        "storage",
        [
            _change("aws_sqs_queue.jobs", Action.CREATE),
            _change("aws_s3_bucket.artifacts", Action.REPLACE, "bucket"),
            _change("aws_ssm_parameter.old", Action.DELETE),
            _change('module.net.aws_s3_bucket.x["a|b"]', Action.UPDATE, "tags.team", "tags.env"),
        ],
        drift=[_change("aws_s3_bucket.artifacts", Action.UPDATE, "tags.owner")],
    )
    return PlanReport(
        head_sha=HEAD,
        base_sha=BASE,
        outcomes=(
            _outcome("storage", RunStatus.CHANGES, storage),
            _outcome("app", RunStatus.NO_CHANGES, _plan("app", [])),
            _outcome(
                "queue",
                RunStatus.FAILED,
                error="stack 'queue': terraform plan failed:\n"
                "  stacks/queue/main.tf:3: Unsupported argument",
            ),
            _outcome(
                "web",
                RunStatus.SKIPPED,
                error="waiting on storage: variable 'queue_url' takes its output",
            ),
        ),
        plan_hashes={"storage": "ab" * 32, "app": "cd" * 32},
        store="/state/stored-plans",
        changed_paths=3,
    )


def _violating() -> PlanReport:
    logs = _plan("logs", [_change("aws_s3_bucket.archive", Action.DELETE)])
    return PlanReport(
        head_sha=HEAD,
        base_sha=BASE,
        outcomes=(_outcome("logs", RunStatus.CHANGES, logs),),
        violations=(
            Violation(
                "no-prod-deletes",
                "logs",
                "aws_s3_bucket.archive",
                "delete",
                "delete of aws_s3_bucket.archive is denied",
            ),
        ),
        notices=("policy 'opa': conftest is not installed: not checked",),
        plan_hashes={"logs": "ef" * 32},
        changed_paths=1,
    )


def _long() -> PlanReport:
    changes = [_change(f"aws_s3_bucket.b{i:02d}", Action.CREATE) for i in range(12)]
    return PlanReport(
        HEAD, BASE, (_outcome("big", RunStatus.CHANGES, _plan("big", changes)),), changed_paths=1
    )


def _plan_kinds() -> PlanReport:
    """Every kind of change Terraform plans: moved, imported, forgotten, values known
    after apply, outputs (one sensitive, one unknown) and a deferred change."""
    changes = (
        ResourceChange(
            "aws_s3_bucket.logs",
            "aws_s3_bucket",
            "logs",
            Action.NOOP,
            previous_address="aws_s3_bucket.old_logs",
        ),
        ResourceChange(
            "aws_s3_bucket.legacy",
            "aws_s3_bucket",
            "legacy",
            Action.UPDATE,
            ("tags.env",),
            importing="legacy-bucket",
        ),
        ResourceChange("aws_sqs_queue.kept", "aws_sqs_queue", "kept", Action.FORGET),
        ResourceChange(
            "aws_sqs_queue.jobs",
            "aws_sqs_queue",
            "jobs",
            Action.CREATE,
            after={"name": "jobs", "arn": UNKNOWN_MARKER},
            unknown_paths=("arn", "url"),
        ),
    )
    outputs = (
        OutputChange("queue_arn", Action.CREATE, None, UNKNOWN_MARKER, unknown=True),
        OutputChange("token", Action.UPDATE, SENSITIVE_MARKER, SENSITIVE_MARKER, sensitive=True),
        OutputChange("region", Action.UPDATE, "us-east-1", "eu-west-1"),
    )
    deferred = (
        ResourceChange(
            "aws_s3_bucket.per_env[0]",
            "aws_s3_bucket",
            "per_env",
            Action.CREATE,
            deferred_reason="instance_count_unknown",
        ),
    )
    plan = Plan(
        "storage",
        changes,
        (),
        {},
        "terraform",
        "terraform 1.15.5",
        output_changes=outputs,
        deferred=deferred,
    )
    return PlanReport(HEAD, BASE, (_outcome("storage", RunStatus.CHANGES, plan),), changed_paths=1)


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("plan_kinds.md", _plan_kinds),
        ("risky.md", _risky),
        ("violation.md", _violating),
        ("folded.md", _long),
        ("nothing.md", lambda: PlanReport(HEAD, BASE, (), changed_paths=2)),
    ],
)
def test_report_matches_golden_file(name: str, make: object) -> None:
    text = markdown.render(make())  # type: ignore[operator]
    golden = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(text)
    assert text == golden.read_text(), f"regenerate with UPDATE_GOLDEN=1 if intended: {golden}"


def test_replace_and_delete_stand_out_and_come_first() -> None:
    text = markdown.render(_risky())
    table = text[text.index("| Action | Resource |") :]
    rows = [line for line in table.splitlines() if line.startswith("| :")]
    assert rows[0].startswith("| :x: **delete**") and rows[1].startswith("| :warning: **replace**")
    assert "> :warning: **1 to replace, 1 to delete**" in text
    # Drift is its own block, apart from the pull request's changes.
    assert "Drift: 1 resource(s) changed outside of Git" in text
    assert "`tags.owner`" in text.split("Drift: 1")[1]


def test_no_values_are_rendered_only_attribute_names() -> None:
    text = markdown.render(_risky())
    assert SENSITIVE_MARKER not in text
    assert "a\\|b" in text  # a pipe in an address does not break the table


def test_report_is_cut_to_the_limit_and_says_so() -> None:
    changes = [
        _change(f"aws_s3_bucket.bucket_with_a_long_name_{i:05d}", Action.UPDATE, "tags.a", "tags.b")
        for i in range(1500)
    ]
    big = PlanReport(
        HEAD,
        BASE,
        tuple(_outcome(f"s{i}", RunStatus.CHANGES, _plan(f"s{i}", changes)) for i in range(3)),
        changed_paths=1,
    )
    text = markdown.render(big)
    assert len(text) <= markdown.MAX_CHARS
    assert text.startswith(markdown.MARKER)
    assert ":scissors: **This report was cut**" in text
    assert "resource row(s) cut to fit the size limit" in text
    # Every stack still has its headline and counts.
    for i in range(3):
        assert f"### `s{i}`: 0 to create, 1500 to update" in text


def test_a_tiny_limit_drops_whole_stacks_and_still_fits() -> None:
    text = markdown.render(_risky(), limit=1500)
    assert len(text) <= 1500
    assert "stack(s) were left out" in text
