"""Listing the account (unmanaged/aws.py) against a moto server: every page, the tags,
creation dates, one region at a time, with the endpoint and keys of the env given."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import boto3
import pytest

from infra_gitops.errors import GitOpsError
from infra_gitops.unmanaged import aws
from infra_gitops.unmanaged.types import SCANNED_TYPES

ALL = frozenset(SCANNED_TYPES)


@pytest.fixture(scope="module")
def endpoint(moto_url: str) -> str:
    return moto_url


def _env(endpoint: str, region: str = "us-east-1") -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": region,
    }


def _client(endpoint: str, service: str, region: str = "us-east-1") -> Any:
    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def test_lists_buckets_queues_and_parameters_with_tags_and_dates(endpoint: str) -> None:
    s3 = _client(endpoint, "s3")
    s3.create_bucket(Bucket="ua-tagged")
    s3.put_bucket_tagging(Bucket="ua-tagged", Tagging={"TagSet": [{"Key": "team", "Value": "a"}]})
    s3.create_bucket(Bucket="ua-plain")
    _client(endpoint, "s3", "eu-west-1").create_bucket(
        Bucket="ua-in-ireland", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    sqs = _client(endpoint, "sqs")
    urls = [sqs.create_queue(QueueName=f"ua-q{i}")["QueueUrl"] for i in range(3)]
    sqs.tag_queue(QueueUrl=urls[0], Tags={"team": "b"})
    ssm = _client(endpoint, "ssm")
    ssm.put_parameter(Name="/ua/p", Value="v", Type="String", Tags=[{"Key": "k", "Value": "v"}])

    found = {
        (r.type, r.identifier): r for r in aws.list_resources(aws.account_of(_env(endpoint)), ALL)
    }

    assert ("aws_s3_bucket", "ua-in-ireland") not in found  # another region's
    bucket = found[("aws_s3_bucket", "ua-tagged")]
    assert (bucket.tags, bucket.arn, bucket.region) == (
        {"team": "a"},
        "arn:aws:s3:::ua-tagged",
        "us-east-1",
    )
    assert datetime.fromisoformat(bucket.created or "").tzinfo is not None
    assert found[("aws_s3_bucket", "ua-plain")].tags == {}
    queue = found[("aws_sqs_queue", urls[0])]
    assert (queue.name, queue.tags) == ("ua-q0", {"team": "b"})
    assert queue.arn and queue.arn.endswith(":ua-q0")
    assert datetime.fromisoformat(queue.created or "").year >= 2024
    assert {("aws_sqs_queue", u) for u in urls} <= set(found)
    parameter = found[("aws_ssm_parameter", "/ua/p")]
    assert (parameter.tags, parameter.created) == ({"k": "v"}, None)
    assert parameter.modified is not None

    ireland = aws.list_resources(
        aws.account_of(_env(endpoint, "eu-west-1")), frozenset({"aws_s3_bucket"})
    )
    assert [r.identifier for r in ireland] == ["ua-in-ireland"]


def test_only_the_types_asked_for_are_listed(endpoint: str) -> None:
    _client(endpoint, "sqs").create_queue(QueueName="ua-only")
    listed = aws.list_resources(aws.account_of(_env(endpoint)), frozenset({"aws_sqs_queue"}))
    assert listed and {r.type for r in listed} == {"aws_sqs_queue"}


def test_an_unreachable_endpoint_is_an_error_naming_type_region_and_endpoint() -> None:
    env = _env("http://127.0.0.1:9", "eu-central-1")
    with pytest.raises(GitOpsError) as failed:
        aws.list_resources(aws.account_of(env), frozenset({"aws_s3_bucket"}))
    message = str(failed.value)
    assert "cannot list aws_s3_bucket in region eu-central-1 at http://127.0.0.1:9" in message
    assert "test" not in message.replace("test_", "")  # no key in the message
