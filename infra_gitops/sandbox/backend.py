"""Terraform's S3 state backend, pointed at the emulator."""

from __future__ import annotations

from typing import Any

from infra_gitops.sandbox import STATE_BUCKET
from infra_gitops.statekeys import default_state_key


def backend_config(
    endpoint: str, stack_name: str, *, bucket: str = STATE_BUCKET, region: str = "us-east-1"
) -> dict[str, Any]:
    """Settings for a stack's `backend "s3" {}` block on the emulator.

    use_lockfile makes Terraform take an S3 lock object next to the state, so a second
    concurrent run on the same stack fails to take the lock instead of corrupting state.
    """
    return {
        "bucket": bucket,
        "key": default_state_key(stack_name),
        "region": region,
        "endpoints": {"s3": endpoint},
        "use_path_style": True,
        "skip_credentials_validation": True,
        "skip_requesting_account_id": True,
        "skip_metadata_api_check": True,
        "skip_region_validation": True,
        "use_lockfile": True,
    }
