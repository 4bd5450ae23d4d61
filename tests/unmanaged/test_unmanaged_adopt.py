"""Names of adopted resources (unmanaged/adopt.py): valid Terraform identifiers, unique
in the stack."""

from __future__ import annotations

from infra_gitops.unmanaged.adopt import import_addresses
from infra_gitops.unmanaged.scan import Finding


def _finding(type_: str, identifier: str, name: str) -> Finding:
    return Finding(type_, identifier, name, None, "us-east-1", {}, None)


def test_names_are_valid_identifiers_unique_in_the_stack() -> None:
    findings = [
        _finding("aws_s3_bucket", "My.Bucket", "My.Bucket"),
        _finding("aws_s3_bucket", "my-bucket", "my-bucket"),
        _finding("aws_s3_bucket", "123-logs", "123-logs"),
        _finding("aws_sqs_queue", "http://h:1/000/jobs", "jobs"),
        _finding("aws_ssm_parameter", "/app/db/url", "/app/db/url"),
        _finding("aws_ssm_parameter", "///", "///"),
    ]
    taken = {("aws_s3_bucket", "my_bucket"), ("aws_sqs_queue", "other")}
    assert [address for address, _ in import_addresses(findings, taken)] == [
        "aws_s3_bucket.my_bucket_2",
        "aws_s3_bucket.my_bucket_3",
        "aws_s3_bucket.r_123_logs",
        "aws_sqs_queue.jobs",
        "aws_ssm_parameter.app_db_url",
        "aws_ssm_parameter.resource",
    ]
