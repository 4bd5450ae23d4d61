"""The offline local cloud: an AWS emulator plus a Terraform provider that targets it.

What the rest of the product uses:

    info = up(state_dir)                  # idempotent; the emulator outlives the CLI
    info = up(state_dir, provider_mirror=Path("/opt/tf-plugins"))  # the real hashicorp/aws
    env = info.terraform_env()            # merge into every Terraform command's env
    files = info.override_files()         # write into the stack's snapshot copy
    cfg = info.backend_config("storage")  # the S3 backend on the emulator
    down(state_dir)

Pieces, one module each: emulator (moto server), provider + resources (the Python
provider), mirror (installing it for Terraform), reattach (one provider process for many
commands), backend (S3 state backend settings), real_provider (hashicorp/aws from a
provider mirror instead of ours).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infra_gitops.errors import SandboxError
from infra_gitops.sandbox.provider_names import PROVIDER_SOURCE, PROVIDER_VERSION

if TYPE_CHECKING:
    from infra_gitops.sandbox.emulator import EmulatorInfo
    from infra_gitops.sandbox.real_provider import MirroredProvider

# The submodules are imported inside the functions: every provider process Terraform
# starts imports this package first, and it should not pay for the emulator's imports.

STATE_BUCKET = "infra-gitops-state"
REGION = "us-east-1"
# Dummy credentials: the emulator accepts any; real ones must never reach it.
ACCESS_KEY = "test"
SECRET_KEY = "test"

__all__ = [
    "PROVIDER_SOURCE",
    "PROVIDER_VERSION",
    "REGION",
    "STATE_BUCKET",
    "SandboxInfo",
    "down",
    "client",
    "ensure_bucket",
    "sandbox_dir",
    "status",
    "up",
]


@dataclass(frozen=True)
class SandboxInfo:
    """A running sandbox: where the emulator answers and where the provider is installed."""

    state_dir: Path
    endpoint: str
    pid: int
    cli_config: Path
    region: str = REGION
    state_bucket: str = STATE_BUCKET
    real_provider: MirroredProvider | None = None
    """The real hashicorp/aws from a provider mirror (`sandbox up --provider-mirror`), or
    None: the sandbox's own provider."""

    def describe_provider(self) -> str:
        if self.real_provider is not None:
            return self.real_provider.describe()
        return f"{PROVIDER_SOURCE} {PROVIDER_VERSION} (the sandbox provider, for hashicorp/aws)"

    def terraform_env(self) -> dict[str, str]:
        """Variables to add to a Terraform command's environment to run on the sandbox."""
        env = {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            # No instance-metadata lookups: they only add timeouts off EC2.
            "AWS_EC2_METADATA_DISABLED": "true",
            "TF_CLI_CONFIG_FILE": str(self.cli_config),
            "CHECKPOINT_DISABLE": "1",
            # A profile or session token of the user's (a CI runner's) must reach neither
            # the state backend nor the real provider, which Terraform starts with this
            # environment: a profile this machine lacks fails init. Empty is unset to the
            # AWS SDKs.
            "AWS_PROFILE": "",
            "AWS_SESSION_TOKEN": "",
        }
        return env

    def override_files(self) -> dict[str, str]:
        """File name -> content: hashicorp/aws swapped for the sandbox provider, or the
        real one pointed at the emulator."""
        from infra_gitops.sandbox import mirror, real_provider

        if self.real_provider is not None:
            return real_provider.override_files(self.endpoint)
        return mirror.override_files()

    def backend_config(self, stack_name: str) -> dict[str, Any]:
        """Settings for the stack's `backend "s3" {}` block, state kept in the emulator."""
        from infra_gitops.sandbox import backend

        return backend.backend_config(
            self.endpoint, stack_name, bucket=self.state_bucket, region=self.region
        )

    @contextlib.contextmanager
    def reattached_env(self, log_file: Path | None = None) -> Iterator[dict[str, str]]:
        """terraform_env() plus TF_REATTACH_PROVIDERS: one provider process for all commands.

        Several times faster per command. The provider serves every Terraform command
        run with this env until the block ends; it is killed then. The real provider is
        not served so (Terraform starts it per command): then terraform_env() only.
        """
        from infra_gitops.sandbox.reattach import reattached_provider

        env = self.terraform_env()
        if self.real_provider is not None:
            yield env
            return
        with reattached_provider(_provider_process_env(env), log_file) as value:
            yield {**env, "TF_REATTACH_PROVIDERS": value}


def up(state_dir: Path, provider_mirror: Path | None = None) -> SandboxInfo:
    """Start the sandbox (or find the running one), make the state bucket, install the provider.

    provider_mirror: run the stacks with the real hashicorp/aws from this provider mirror
    (checked first, before anything starts) instead of the sandbox provider. Each up()
    chooses again and records it for the later commands on state_dir.
    The emulator keeps running after this process exits, until down().
    """
    from infra_gitops.sandbox import emulator, mirror, real_provider

    chosen = real_provider.inspect_mirror(provider_mirror) if provider_mirror else None
    running = emulator.start_detached(state_dir)
    mirror.install(sandbox_dir(state_dir))
    if chosen is not None:
        real_provider.install(sandbox_dir(state_dir), chosen)
    real_provider.record(sandbox_dir(state_dir), chosen)
    info = _info(state_dir, running)
    ensure_bucket(info.endpoint, info.state_bucket, info.region)
    return info


def down(state_dir: Path) -> bool:
    """Stop the sandbox's emulator (its resources are gone with it). False if not running."""
    from infra_gitops.sandbox import emulator

    return emulator.stop_detached(state_dir)


def status(state_dir: Path) -> SandboxInfo | None:
    """The running sandbox, or None (a stale state file is removed)."""
    from infra_gitops.sandbox import emulator

    running = emulator.status(state_dir)
    if running is None:
        return None
    return _info(state_dir, running)


def recorded_endpoint(state_dir: Path) -> str | None:
    """Where `sandbox up` last started the emulator for this state dir, alive or not."""
    from infra_gitops.sandbox import emulator

    info = emulator.recorded(state_dir)
    return info.endpoint if info else None


def sandbox_dir(state_dir: Path) -> Path:
    return state_dir / "sandbox"


def ensure_bucket(endpoint: str, bucket: str, region: str = REGION) -> None:
    """Create bucket in the emulator unless it exists."""
    from botocore.exceptions import BotoCoreError, ClientError

    s3 = client("s3", endpoint, region)
    try:
        s3.create_bucket(Bucket=bucket)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in (
            "BucketAlreadyOwnedByYou",
            "BucketAlreadyExists",
        ):
            raise SandboxError(
                f"cannot create the state bucket {bucket} at {endpoint}: {exc}"
            ) from exc
    except BotoCoreError as exc:
        raise SandboxError(f"cannot reach the AWS emulator at {endpoint}: {exc}") from exc


def client(service: str, endpoint: str, region: str = REGION) -> Any:
    """A boto3 client on the emulator with the dummy keys.

    The user's AWS_PROFILE is not read: a profile missing from ~/.aws would fail the
    client (ProfileNotFound), though the emulator only ever gets the dummy keys."""
    import boto3
    import botocore.session

    core = botocore.session.Session(session_vars={"profile": (None, None, None, None)})
    return boto3.session.Session(botocore_session=core).client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )


def _info(state_dir: Path, running: EmulatorInfo) -> SandboxInfo:
    from infra_gitops.sandbox import mirror, real_provider

    directory = sandbox_dir(state_dir)
    chosen = real_provider.recorded(directory)
    cli_config = (
        directory / real_provider.CLI_CONFIG_NAME
        if chosen is not None
        else mirror.mirror_paths(directory).cli_config
    )
    return SandboxInfo(
        state_dir=state_dir,
        endpoint=running.endpoint,
        pid=running.pid,
        cli_config=cli_config,
        real_provider=chosen,
    )


def _provider_process_env(terraform_env: dict[str, str]) -> dict[str, str]:
    # PATH, HOME... from ours, plus the sandbox's AWS settings. A profile or session token
    # of the user's would override or spoil the dummy credentials: the emulator gets none.
    inherited = {
        k: v for k, v in os.environ.items() if k not in ("AWS_PROFILE", "AWS_SESSION_TOKEN")
    }
    return {**inherited, **terraform_env}
