"""The keep-live override file: lifecycle ignore_changes for one plan, merged with what
the resource's own lifecycle ignores."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra_gitops.engines.tfkeep import keep_live_override, traversal


@pytest.mark.parametrize(
    ("path", "expression"),
    [
        ("tags.CostCenter", 'tags["CostCenter"]'),
        ("tags.aws:cloudformation:stack-name", 'tags["aws:cloudformation:stack-name"]'),
        ("visibility_timeout_seconds", "visibility_timeout_seconds"),
        ("rule.0.port", "rule[0].port"),
        ("tags.${x}", 'tags["$${x}"]'),  # never a template
    ],
)
def test_a_dotted_path_becomes_a_traversal(path: str, expression: str) -> None:
    assert traversal(path) == expression


def _stack(tmp_path: Path) -> Path:
    (tmp_path / "main.tf").write_text(
        'resource "aws_s3_bucket" "a" {\n  bucket = "a"\n'
        '  lifecycle {\n    ignore_changes = [tags["Owner"]]\n  }\n}\n'
        'resource "aws_s3_bucket" "all" {\n  lifecycle {\n    ignore_changes = all\n  }\n}\n'
        'resource "aws_sqs_queue" "q" {\n  name = "q"\n}\n'
    )
    return tmp_path


def test_the_override_adds_to_the_resources_own_ignore_changes(tmp_path: Path) -> None:
    text = keep_live_override(
        _stack(tmp_path),
        {
            "aws_s3_bucket.a": ("tags.CostCenter",),
            "aws_sqs_queue.q": ("visibility_timeout_seconds",),
            'aws_sqs_queue.q["x"]': ("tags.y",),  # for_each instances share the block
        },
    )
    assert text is not None
    assert 'resource "aws_s3_bucket" "a" {' in text
    assert 'ignore_changes = [tags["Owner"], tags["CostCenter"]]' in text
    assert 'ignore_changes = [visibility_timeout_seconds, tags["y"]]' in text


def test_resources_the_root_cannot_override_are_left_out(tmp_path: Path) -> None:
    keep = {
        "aws_s3_bucket.all": ("tags.x",),  # ignores everything already
        "module.m.aws_s3_bucket.b": ("tags.x",),  # in a child module
        "aws_s3_bucket.removed": ("tags.x",),  # no longer in the configuration
    }
    assert keep_live_override(_stack(tmp_path), keep) is None
