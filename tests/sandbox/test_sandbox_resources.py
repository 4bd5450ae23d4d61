"""Provider pieces that need no Terraform: settings, tag shapes, validation."""

from __future__ import annotations

from tf.types import Unknown
from tf.utils import Diagnostics

from infra_gitops.sandbox.provider import SandboxAwsProvider, settings_from_config
from infra_gitops.sandbox.resources import S3Bucket, SqsQueue, SsmParameter
from infra_gitops.sandbox.resources._base import tag_changes, tags_for_state


def test_settings_fall_back_to_the_environment() -> None:
    settings = settings_from_config({}, {"AWS_REGION": "eu-west-1"})
    assert settings.region == "eu-west-1"
    assert settings.endpoints == {}
    assert settings_from_config({}, {}).region == "us-east-1"


def test_settings_take_the_provider_block_first() -> None:
    config = {
        "region": "us-west-2",
        "s3_use_path_style": True,
        "endpoints": [{"s3": "http://localhost:4566", "sqs": None}],
    }
    settings = settings_from_config(config, {"AWS_REGION": "eu-west-1"})
    assert settings.region == "us-west-2"
    assert settings.s3_use_path_style is True
    assert settings.endpoints == {"s3": "http://localhost:4566"}


def test_no_tags_keep_the_shape_of_the_prior_state() -> None:
    # null stays null and {} stays {}: otherwise every plan would show a change.
    assert tags_for_state({}, None) is None
    assert tags_for_state({}, {}) == {}
    assert tags_for_state({}, {"a": "1"}) is None
    assert tags_for_state({"a": "1"}, None) == {"a": "1"}


def test_tag_changes_lists_what_to_set_and_what_to_remove() -> None:
    assert tag_changes({"a": "1", "b": "2"}, {"b": "3", "c": "4"}) == ({"b": "3", "c": "4"}, ["a"])
    assert tag_changes(None, None) == ({}, [])


def test_resource_types_have_the_real_providers_names() -> None:
    provider = SandboxAwsProvider()
    names = {provider.get_model_prefix() + r.get_name() for r in provider.get_resources()}
    assert names == {"aws_s3_bucket", "aws_sqs_queue", "aws_ssm_parameter"}
    assert provider.full_name() == "infra-gitops.local/sandbox/aws"


def test_ssm_value_is_sensitive() -> None:
    attrs = {a.name: a for a in SsmParameter.get_schema().attributes}
    assert attrs["value"].sensitive and attrs["value"].required
    assert {a.name for a in S3Bucket.get_schema().attributes} == {
        "id",
        "arn",
        "bucket",
        "force_destroy",
        "tags",
    }


def test_fifo_queue_name_must_end_in_fifo() -> None:
    queue = SqsQueue(SandboxAwsProvider())
    diags = Diagnostics()
    queue.validate(diags, "aws_sqs_queue", {"name": "jobs", "fifo_queue": True})
    assert diags.has_errors()
    assert ".fifo" in diags.diagnostics[0].summary

    ok = Diagnostics()
    queue.validate(ok, "aws_sqs_queue", {"name": "jobs.fifo", "fifo_queue": True})
    queue.validate(ok, "aws_sqs_queue", {"name": Unknown, "fifo_queue": True})
    assert not ok.has_errors()


def test_ssm_type_is_checked() -> None:
    diags = Diagnostics()
    SsmParameter(SandboxAwsProvider()).validate(
        diags, "aws_ssm_parameter", {"name": "/x", "type": "Secret", "value": "v"}
    )
    assert diags.has_errors()
    assert "String, StringList, SecureString" in diags.diagnostics[0].summary
