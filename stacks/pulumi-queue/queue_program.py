"""The example Pulumi program: an SQS queue for jobs, an SSM parameter with its URL and,
when a webhook token is configured, a SecureString parameter holding it.

Config (`pulumi config`, or the stack's `variables:` in gitops.yaml):
  environment          tag and parameter path segment (default: the stack name)
  visibility_timeout   seconds (default 30)
  endpoint             an AWS-compatible endpoint (LocalStack, moto); else
                       AWS_ENDPOINT_URL from the environment; else real AWS
  webhook_token        secret; stored as a SecureString parameter
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class Settings:
    environment: str
    visibility_timeout: int = 30
    endpoint: str | None = None
    region: str = "us-east-1"
    webhook_token: pulumi.Input[str] | None = None


def settings_from_config(config: pulumi.Config, env: Mapping[str, str]) -> Settings:
    return Settings(
        environment=config.get("environment") or pulumi.get_stack(),
        visibility_timeout=config.get_int("visibility_timeout") or 30,
        endpoint=config.get("endpoint") or env.get("AWS_ENDPOINT_URL") or None,
        region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
        webhook_token=config.get_secret("webhook_token"),
    )


def local_provider(settings: Settings) -> aws.Provider | None:
    """An AWS provider pointed at an emulator, when an endpoint is configured: the
    emulator has no metadata API, no real account and accepts any credentials."""
    if not settings.endpoint:
        return None
    endpoint = settings.endpoint
    return aws.Provider(
        "local",
        region=settings.region,
        endpoints=[aws.ProviderEndpointArgs(sqs=endpoint, ssm=endpoint, sts=endpoint)],
        skip_credentials_validation=True,
        skip_metadata_api_check=True,
        skip_region_validation=True,
        skip_requesting_account_id=True,
    )


def build(settings: Settings) -> dict[str, pulumi.Output[str]]:
    """Declare the resources; returns the stack outputs."""
    provider = local_provider(settings)
    opts = pulumi.ResourceOptions(provider=provider) if provider else None
    tags = {"env": settings.environment, "managed-by": "infra-gitops"}
    queue = aws.sqs.Queue(
        "jobs",
        visibility_timeout_seconds=settings.visibility_timeout,
        tags=tags,
        opts=opts,
    )
    prefix = f"/pulumi-queue/{settings.environment}"
    url_parameter = aws.ssm.Parameter(
        "jobs-url",
        name=f"{prefix}/jobs-url",
        type="String",
        value=queue.url,
        tags=tags,
        opts=opts,
    )
    outputs = {
        "queue_url": queue.url,
        "queue_arn": queue.arn,
        "url_parameter": url_parameter.name,
    }
    if settings.webhook_token is not None:
        token = aws.ssm.Parameter(
            "webhook-token",
            name=f"{prefix}/webhook-token",
            type="SecureString",
            value=settings.webhook_token,
            tags=tags,
            opts=opts,
        )
        outputs["token_parameter"] = token.name
    return outputs
