"""The sandbox provider's registry address and version (no heavy imports: used by the CLI)."""

from __future__ import annotations

PROVIDER_HOST = "infra-gitops.local"
PROVIDER_NAMESPACE = "sandbox"
PROVIDER_TYPE = "aws"
PROVIDER_VERSION = "0.1.0"
PROVIDER_SOURCE = f"{PROVIDER_HOST}/{PROVIDER_NAMESPACE}/{PROVIDER_TYPE}"

ENDPOINT_SERVICES = ("s3", "sqs", "ssm", "sts")
"""The AWS services the sandbox emulates for the stacks (provider endpoints point here)."""
