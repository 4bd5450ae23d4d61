"""Unit tests of the example Pulumi program (stacks/pulumi-queue) under
pulumi.runtime.set_mocks: the program runs in-process, resources are registered with a
mock engine; no CLI, no cloud."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pulumi
import pytest

from infra_gitops.engines.pulumi_values import SECRET_SIG, SECRET_SIG_KEY

PROGRAM = Path(__file__).resolve().parents[2] / "stacks" / "pulumi-queue" / "queue_program.py"


class RecordingMocks(pulumi.runtime.Mocks):
    """Registers every resource with outputs = inputs plus what AWS would compute."""

    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources.append(args)
        outputs = dict(args.inputs)
        if args.typ == "aws:sqs/queue:Queue":
            outputs["url"] = f"https://sqs.us-east-1.amazonaws.com/123456789012/{args.name}"
            outputs["arn"] = f"arn:aws:sqs:us-east-1:123456789012:{args.name}"
        return f"{args.name}-id", outputs

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        return {}, None

    def of_type(self, typ: str) -> list[pulumi.runtime.MockResourceArgs]:
        return [r for r in self.resources if r.typ == typ]


@pytest.fixture
def mocks() -> RecordingMocks:
    recording = RecordingMocks()
    pulumi.runtime.set_mocks(recording, project="pulumi-queue", stack="dev", preview=False)
    return recording


@pytest.fixture(scope="module")
def program() -> Iterator[ModuleType]:
    spec = importlib.util.spec_from_file_location("queue_program", PROGRAM)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["queue_program"] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("queue_program", None)


def unwrap(value: Any) -> Any:
    """The value inside a secret as the mock engine receives it."""
    if isinstance(value, dict) and value.get(SECRET_SIG_KEY) == SECRET_SIG:
        return value["value"]
    return value


@pulumi.runtime.test
def test_queue_and_url_parameter_on_real_aws(mocks: RecordingMocks, program: ModuleType) -> Any:
    outputs = program.build(program.Settings(environment="dev", visibility_timeout=45))

    def check(values: list[Any]) -> None:
        queue_url, parameter = values
        (queue,) = mocks.of_type("aws:sqs/queue:Queue")
        assert queue.inputs["visibilityTimeoutSeconds"] == 45
        assert queue.inputs["tags"] == {"env": "dev", "managed-by": "infra-gitops"}
        (param,) = mocks.of_type("aws:ssm/parameter:Parameter")
        assert param.inputs["name"] == parameter == "/pulumi-queue/dev/jobs-url"
        assert param.inputs["type"] == "String"
        # The provider's schema marks a parameter's value secret: it arrives wrapped.
        assert unwrap(param.inputs["value"]) == queue_url
        assert queue_url.endswith("/jobs")
        # No endpoint: the default provider (real AWS), no explicit one.
        assert mocks.of_type("pulumi:providers:aws") == []
        assert queue.provider == ""
        assert "token_parameter" not in outputs

    return pulumi.Output.all(outputs["queue_url"], outputs["url_parameter"]).apply(check)


@pulumi.runtime.test
def test_an_endpoint_routes_every_resource_through_the_local_provider(
    mocks: RecordingMocks, program: ModuleType
) -> Any:
    settings = program.Settings(environment="ci", endpoint="http://127.0.0.1:4566")
    outputs = program.build(settings)

    def check(_: Any) -> None:
        (provider,) = mocks.of_type("pulumi:providers:aws")
        assert provider.name == "local"
        # Provider configuration reaches the provider JSON-encoded.
        endpoints = json.loads(provider.inputs["endpoints"])
        assert endpoints[0]["sqs"] == endpoints[0]["ssm"] == "http://127.0.0.1:4566"
        for key in ("skipCredentialsValidation", "skipRequestingAccountId"):
            assert provider.inputs[key] in (True, "true")
        for resource in mocks.resources:
            if resource.typ.startswith("aws:sqs") or resource.typ.startswith("aws:ssm"):
                assert "::local::" in (resource.provider or ""), resource.typ

    return outputs["queue_url"].apply(check)


@pulumi.runtime.test
def test_the_webhook_token_is_a_secure_string_and_stays_secret(
    mocks: RecordingMocks, program: ModuleType
) -> Any:
    token = pulumi.Output.secret("tok-1234567890")
    outputs = program.build(program.Settings(environment="dev", webhook_token=token))

    def check(name: str) -> None:
        secure = [
            r for r in mocks.of_type("aws:ssm/parameter:Parameter") if r.name == "webhook-token"
        ]
        assert len(secure) == 1
        assert secure[0].inputs["type"] == "SecureString"
        # Registered as a Pulumi secret (the engine encrypts it in state), not plain text.
        value = secure[0].inputs["value"]
        assert value[SECRET_SIG_KEY] == SECRET_SIG
        assert unwrap(value) == "tok-1234567890"
        assert name == "/pulumi-queue/dev/webhook-token"

    return outputs["token_parameter"].apply(check)


def test_settings_come_from_config_then_the_environment(
    mocks: RecordingMocks, program: ModuleType
) -> None:
    pulumi.runtime.set_all_config(
        {"pulumi-queue:visibility_timeout": "90", "pulumi-queue:webhook_token": "t0ken-abcdef"},
        ["pulumi-queue:webhook_token"],
    )
    try:
        env = {"AWS_ENDPOINT_URL": "http://localhost:5000", "AWS_REGION": "eu-west-1"}
        settings = program.settings_from_config(pulumi.Config(), env)
    finally:
        pulumi.runtime.set_all_config({}, [])
    assert settings.environment == "dev"  # the stack name
    assert settings.visibility_timeout == 90
    assert (settings.endpoint, settings.region) == ("http://localhost:5000", "eu-west-1")
    assert isinstance(settings.webhook_token, pulumi.Output)
