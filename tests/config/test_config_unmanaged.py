"""The top-level `unmanaged` section (config/unmanaged.py): interval and ignore rules."""

from __future__ import annotations

from pathlib import Path

from config_helpers import make_repo, problems

from infra_gitops.config import load_manifest
from infra_gitops.config.unmanaged import IgnoreRule, UnmanagedSettings


def test_without_the_section_the_daemon_does_not_scan_and_nothing_is_ignored(
    tmp_path: Path,
) -> None:
    make_repo(tmp_path, "version: 1\nstacks: [{name: a, path: a}]\n", ("a",))
    assert load_manifest(tmp_path).unmanaged == UnmanagedSettings(interval_s=None, ignore=())


def test_interval_and_rules_are_read(tmp_path: Path) -> None:
    make_repo(
        tmp_path,
        """
        version: 1
        unmanaged:
          interval: 1h30m
          ignore:
            - {type: aws_s3_bucket, name: "cdk-*"}
            - {tag: {team: data, env: "prod-*"}}
            - {type: aws_ssm_parameter}
        stacks: [{name: a, path: a}]
        """,
        ("a",),
    )
    settings = load_manifest(tmp_path).unmanaged
    assert settings.interval_s == 5400
    assert settings.ignore == (
        IgnoreRule(0, type="aws_s3_bucket", name="cdk-*"),
        IgnoreRule(1, tag={"team": "data", "env": "prod-*"}),
        IgnoreRule(2, type="aws_ssm_parameter"),
    )


def test_bad_rules_are_named_with_their_line(tmp_path: Path) -> None:
    make_repo(
        tmp_path,
        """
        version: 1
        unmanaged:
          interval: soon
          ignore:
            - {}
            - {type: aws_s3_buckets}
            - {tag: {}}
            - {name: x, owner: me}
        stacks: [{name: a, path: a}]
        """,
        ("a",),
    )
    found = problems(tmp_path)
    assert any(
        p.startswith("gitops.yaml:3: unmanaged.interval: expected a duration") for p in found
    )
    assert (
        "gitops.yaml:5: unmanaged.ignore[0]: expected a mapping with at least one of "
        "'type', 'name', 'tag', got an empty mapping"
    ) in found, found
    assert (
        "gitops.yaml:6: unmanaged.ignore[1].type: 'aws_s3_buckets' is not a type "
        "`unmanaged` lists (did you mean 'aws_s3_bucket'?)"
    ) in found, found
    assert (
        "gitops.yaml:7: unmanaged.ignore[2].tag: expected a mapping of tag names to values "
        "(globs), at least one, got an empty mapping"
    ) in found, found
    assert any("gitops.yaml:8: unmanaged.ignore[3].owner: unknown key 'owner'" in p for p in found)


def test_a_rule_matches_when_every_part_it_sets_matches() -> None:
    rule = IgnoreRule(0, type="aws_s3_bucket", name="cdk-*", tag={"team": "da*"})
    assert rule.matches("aws_s3_bucket", "cdk-assets", "cdk-assets", {"team": "data", "x": "y"})
    assert not rule.matches("aws_sqs_queue", "cdk-assets", "cdk-assets", {"team": "data"})
    assert not rule.matches("aws_s3_bucket", "assets", "assets", {"team": "data"})
    assert not rule.matches("aws_s3_bucket", "cdk-assets", "cdk-assets", {"team": "web"})
    assert not rule.matches("aws_s3_bucket", "cdk-assets", "cdk-assets", {})
    queue = IgnoreRule(1, name="tmp-*")
    # A queue's identifier is its URL: its name matches too.
    assert queue.matches("aws_sqs_queue", "http://h/123/tmp-1", "tmp-1", {})
