"""The managed resources of a `terraform show -json` state (engines/tfstate.py)."""

from __future__ import annotations

from infra_gitops.engines.base import ManagedResource
from infra_gitops.engines.tfstate import state_resources

STATE = {
    "format_version": "1.0",
    "terraform_version": "1.15.5",
    "values": {
        "root_module": {
            "resources": [
                {
                    "address": "aws_s3_bucket.artifacts",
                    "mode": "managed",
                    "type": "aws_s3_bucket",
                    "name": "artifacts",
                    "values": {
                        "id": "demo-artifacts",
                        "bucket": "demo-artifacts",
                        "arn": "arn:aws:s3:::demo-artifacts",
                    },
                },
                {
                    "address": "data.aws_caller_identity.me",
                    "mode": "data",
                    "type": "aws_caller_identity",
                    "name": "me",
                    "values": {"id": "000000000000"},
                },
            ],
            "child_modules": [
                {
                    "address": "module.queue",
                    "resources": [
                        {
                            "address": "module.queue.aws_ssm_parameter.url",
                            "mode": "managed",
                            "type": "aws_ssm_parameter",
                            "name": "url",
                            "values": {
                                "id": "/app/url",
                                "name": "/app/url",
                                "arn": None,
                                "value": "s3cr3t",
                            },
                        }
                    ],
                }
            ],
        }
    },
}


def test_every_module_managed_resources_only_and_nothing_but_identity() -> None:
    assert state_resources(STATE) == (
        ManagedResource(
            "aws_s3_bucket",
            "demo-artifacts",
            "aws_s3_bucket.artifacts",
            "arn:aws:s3:::demo-artifacts",
            "demo-artifacts",
        ),
        ManagedResource(
            "aws_ssm_parameter", "/app/url", "module.queue.aws_ssm_parameter.url", None, "/app/url"
        ),
    )
    assert "s3cr3t" not in repr(state_resources(STATE))


def test_a_state_never_written_holds_nothing() -> None:
    assert state_resources({"format_version": "1.0"}) == ()
