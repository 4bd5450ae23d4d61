"""Shared fixtures for the sandbox tests: one moto server and one provider process per session.

Starting the emulator and the Python provider once (the provider reattached through
TF_REATTACH_PROVIDERS) keeps each Terraform command well under a second; the emulator
is reset between tests so every test starts from an empty cloud.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import boto3
import pytest
from sandbox_helpers import Terraform, make_runner

from infra_gitops.sandbox import SandboxInfo, emulator, ensure_bucket, mirror


@pytest.fixture(scope="session")
def session_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxInfo]:
    """A moto server for the whole session plus the provider mirror and CLI config."""
    state_dir = tmp_path_factory.mktemp("sandbox-state")
    paths = mirror.install(state_dir / "sandbox")
    with emulator.running_emulator(state_dir / "emulator.log") as running:
        yield SandboxInfo(
            state_dir=state_dir,
            endpoint=running.endpoint,
            pid=running.pid,
            cli_config=paths.cli_config,
        )


@pytest.fixture(scope="session")
def reattached_env(session_sandbox: SandboxInfo) -> Iterator[dict[str, str]]:
    """The environment for Terraform commands, served by one long-lived provider process."""
    log = session_sandbox.state_dir / "provider.log"
    with session_sandbox.reattached_env(log_file=log) as env:
        yield env


@pytest.fixture
def sandbox(session_sandbox: SandboxInfo) -> SandboxInfo:
    """The session sandbox with an empty cloud (only the state bucket)."""
    emulator.reset(session_sandbox.endpoint)
    ensure_bucket(session_sandbox.endpoint, session_sandbox.state_bucket)
    return session_sandbox


@pytest.fixture
def aws(sandbox: SandboxInfo) -> Callable[[str], object]:
    """boto3 clients on the emulator, as a user checking the cloud would make them."""

    def client(service: str) -> object:
        return boto3.client(
            service,
            endpoint_url=sandbox.endpoint,
            region_name=sandbox.region,
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )

    return client


@pytest.fixture
def terraform(reattached_env: dict[str, str]) -> Terraform:
    """Run the embedded Terraform in a directory with the sandbox environment."""
    return make_runner(reattached_env)
