"""Terraform's S3 state backend, pointed at the emulator."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from infra_gitops.sandbox import STATE_BUCKET
from infra_gitops.sandbox.mirror import hcl_string


def backend_config(
    endpoint: str, stack_name: str, *, bucket: str = STATE_BUCKET, region: str = "us-east-1"
) -> dict[str, Any]:
    """Settings for a stack's `backend "s3" {}` block on the emulator.

    use_lockfile makes Terraform take an S3 lock object next to the state, so a second
    concurrent run on the same stack fails to take the lock instead of corrupting state.
    """
    return {
        "bucket": bucket,
        "key": f"{stack_name}/terraform.tfstate",
        "region": region,
        "endpoints": {"s3": endpoint},
        "use_path_style": True,
        "skip_credentials_validation": True,
        "skip_requesting_account_id": True,
        "skip_metadata_api_check": True,
        "skip_region_validation": True,
        "use_lockfile": True,
    }


def backend_hcl(config: Mapping[str, Any]) -> str:
    """The config as a backend config file, for `terraform init -backend-config=FILE`.

    A file, because `-backend-config=KEY=VALUE` cannot express the `endpoints` object.
    """
    return "".join(f"{key} = {_hcl_value(value)}\n" for key, value in config.items())


def _hcl_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str):
        return hcl_string(value)
    if isinstance(value, Mapping):
        inner = ", ".join(f"{k} = {_hcl_value(v)}" for k, v in value.items())
        return "{ " + inner + " }"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_hcl_value(v) for v in value) + "]"
    raise TypeError(f"backend setting of type {type(value).__name__} has no HCL form")
