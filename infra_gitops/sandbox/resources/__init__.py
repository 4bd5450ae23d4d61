"""The resource types the sandbox provider manages (names and attributes as in hashicorp/aws)."""

from __future__ import annotations

from infra_gitops.sandbox.resources.s3 import S3Bucket
from infra_gitops.sandbox.resources.sqs import SqsQueue
from infra_gitops.sandbox.resources.ssm import SsmParameter

RESOURCES = (S3Bucket, SqsQueue, SsmParameter)

__all__ = ["RESOURCES", "S3Bucket", "SqsQueue", "SsmParameter"]
