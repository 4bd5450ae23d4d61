"""Expected drift (policy ignore_drift): which changed paths a rule covers, how a plan is
annotated, and what an apply would still set back."""

from __future__ import annotations

import pytest

from infra_gitops.expected_drift import annotate, kept_live, path_matches, undone
from infra_gitops.models import Action, DriftIgnore, Plan, ResourceChange, expected, unexpected


def _drifted(address: str, *paths: str, action: Action = Action.UPDATE) -> ResourceChange:
    kind, name = address.split(".")[-2:]
    return ResourceChange(address, kind, name, action, changed_paths=paths)


def _plan(drift: tuple[ResourceChange, ...] = (), changes: tuple[ResourceChange, ...] = ()) -> Plan:
    return Plan(
        "s", changes=changes, drift=drift, outputs={}, engine="terraform", engine_version=""
    )


@pytest.mark.parametrize(
    ("rule", "kind", "path", "matches"),
    [
        (DriftIgnore("tags.CostCenter"), "aws_s3_bucket", "tags.CostCenter", True),
        (DriftIgnore("tags.CostCenter"), "aws_s3_bucket", "tags.costcenter", False),
        (DriftIgnore("tags.CostCenter"), "aws_s3_bucket", "tags_all.CostCenter", False),
        (DriftIgnore("tags_all.*"), "aws_s3_bucket", "tags_all.owner", True),
        (DriftIgnore("tags_all.*"), "aws_s3_bucket", "tags.owner", False),
        (DriftIgnore("tags"), "aws_s3_bucket", "tags.owner", True),  # what lies under it
        (DriftIgnore("tag"), "aws_s3_bucket", "tags.owner", False),  # not a name prefix
        (DriftIgnore("rule.*.port"), "aws_lb", "rule.0.port", True),
        (DriftIgnore("x", type="aws_sqs_*"), "aws_sqs_queue", "x", True),
        (DriftIgnore("x", type="aws_sqs_*"), "aws_s3_bucket", "x", False),
    ],
)
def test_a_rule_covers_its_path_and_what_lies_under_it(
    rule: DriftIgnore, kind: str, path: str, matches: bool
) -> None:
    assert path_matches(rule, kind, path) is matches


def test_drift_made_only_of_expected_paths_does_not_count() -> None:
    plan = annotate(
        _plan(
            drift=(
                _drifted("aws_s3_bucket.a", "tags.CostCenter"),
                _drifted("aws_s3_bucket.b", "tags.CostCenter", "tags.env"),
                _drifted("aws_s3_bucket.gone", action=Action.DELETE),
            )
        ),
        [DriftIgnore("tags.CostCenter")],
    )
    a, b, gone = plan.drift
    assert a.ignored_paths == ("tags.CostCenter",) and a.expected
    assert b.ignored_paths == ("tags.CostCenter",) and not b.expected
    assert not gone.expected  # a resource deleted outside Git is never expected
    assert plan.has_drift
    assert expected(plan.drift) == (a,) and unexpected(plan.drift) == (b, gone)
    assert not annotate(
        _plan(drift=(_drifted("aws_s3_bucket.a", "tags.CostCenter"),)), [DriftIgnore("tags.*")]
    ).has_drift


def test_without_rules_a_plan_is_left_as_it_is() -> None:
    plan = _plan(drift=(_drifted("aws_s3_bucket.a", "tags.x"),))
    assert annotate(plan, []) is plan


def test_undone_names_the_kept_paths_a_plan_still_changes() -> None:
    drift = (_drifted("aws_s3_bucket.a", "tags.CostCenter", "tags.env"),)
    plan = annotate(_plan(drift=drift), [DriftIgnore("tags.CostCenter")])
    keep = kept_live(plan)
    assert keep == {"aws_s3_bucket.a": ("tags.CostCenter",)}
    resets = _plan(changes=(_drifted("aws_s3_bucket.a", "tags.CostCenter", "tags.env"),))
    assert undone(resets, keep) == ["aws_s3_bucket.a: tags.CostCenter"]
    kept = _plan(changes=(_drifted("aws_s3_bucket.a", "tags.env"),))
    assert undone(kept, keep) == []
    whole_map = _plan(changes=(_drifted("aws_s3_bucket.a", "tags"),))
    assert undone(whole_map, keep) == ["aws_s3_bucket.a: tags.CostCenter"]
    replaced = _plan(changes=(_drifted("aws_s3_bucket.a", action=Action.DELETE),))
    assert undone(replaced, keep) == ["aws_s3_bucket.a: tags.CostCenter"]
    other = _plan(changes=(_drifted("aws_s3_bucket.b", "tags.CostCenter"),))
    assert undone(other, keep) == []


def test_the_record_keeps_the_ignored_paths() -> None:
    change = _drifted("aws_s3_bucket.a", "tags.CostCenter")
    annotated = annotate(_plan(drift=(change,)), [DriftIgnore("tags.*")]).drift[0]
    assert ResourceChange.from_dict(annotated.to_dict()) == annotated
    assert "ignored_paths" not in change.to_dict()  # records without rules keep their shape
