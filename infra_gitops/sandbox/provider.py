"""The sandbox Terraform provider: a small, compatible subset of hashicorp/aws in Python.

Same resource types and attribute names as the real provider, so a stack's .tf files run
unchanged against the real provider (LocalStack, AWS) and against this one (moto).
Built on the `tf` package (plugin protocol v6); resources live in sandbox/resources/.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tf import schema, types
from tf.blocks import SetNestedBlock
from tf.iface import Config, DataSource, Provider, Resource
from tf.utils import Diagnostics

from infra_gitops.sandbox.provider_names import ENDPOINT_SERVICES, PROVIDER_SOURCE

if TYPE_CHECKING:
    from botocore.config import Config as BotoConfig

DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True)
class AwsSettings:
    """The provider block, reduced to what boto3 needs."""

    region: str = DEFAULT_REGION
    access_key: str | None = None
    secret_key: str | None = None
    profile: str | None = None
    s3_use_path_style: bool = False
    endpoints: dict[str, str] = field(default_factory=dict)


def settings_from_config(config: Config, environ: dict[str, str] | None = None) -> AwsSettings:
    """Provider config -> settings; unset values fall back to the environment like AWS SDKs."""
    env = dict(os.environ if environ is None else environ)
    region = config.get("region") or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    return AwsSettings(
        region=region or DEFAULT_REGION,
        access_key=config.get("access_key") or None,
        secret_key=config.get("secret_key") or None,
        profile=config.get("profile") or None,
        s3_use_path_style=bool(config.get("s3_use_path_style")),
        endpoints=_endpoints(config.get("endpoints")),
    )


def _endpoints(blocks: Any) -> dict[str, str]:
    merged: dict[str, str] = {}
    for block in blocks or []:
        merged.update({k: v for k, v in block.items() if isinstance(v, str) and v})
    return merged


class AwsClients:
    """boto3 clients for one provider configuration, created on first use.

    When no endpoint is configured boto3 reads AWS_ENDPOINT_URL itself, which is how the
    sandbox points the provider at the emulator without touching the stack's code.
    """

    def __init__(self, settings: AwsSettings) -> None:
        # Imported here: Terraform starts the provider several times per command, mostly
        # for schemas and validation, which need no AWS SDK (it costs ~0.3 s to import).
        import boto3
        import botocore.session

        self.settings = settings
        core = botocore.session.Session()
        if not (settings.profile or os.environ.get("AWS_PROFILE")):
            # An empty AWS_PROFILE (the sandbox blanks the user's) means none, as it does
            # to the Go SDK; botocore would look for a profile named "".
            core = botocore.session.Session(session_vars={"profile": (None, None, None, None)})
        self._session = boto3.session.Session(
            aws_access_key_id=settings.access_key,
            aws_secret_access_key=settings.secret_key,
            profile_name=settings.profile,
            region_name=settings.region,
            botocore_session=core,
        )
        self._clients: dict[str, Any] = {}
        # gRPC serves requests from a thread pool; sessions are not thread-safe.
        self._lock = threading.Lock()

    def client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                self._clients[service] = self._session.client(
                    service,
                    endpoint_url=self.settings.endpoints.get(service),
                    config=self._boto_config(service),
                )
            return self._clients[service]

    def _boto_config(self, service: str) -> BotoConfig:
        from botocore.config import Config as BotoConfig

        retries = {"max_attempts": 3, "mode": "standard"}
        if service == "s3" and self._path_style():
            return BotoConfig(retries=retries, s3={"addressing_style": "path"})
        return BotoConfig(retries=retries)

    def _path_style(self) -> bool:
        # An emulator on 127.0.0.1 has no per-bucket host names: any custom endpoint
        # implies path-style addressing, as s3_use_path_style does for the real provider.
        custom = "s3" in self.settings.endpoints or bool(
            os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        )
        return self.settings.s3_use_path_style or custom


def provider_schema() -> schema.Schema:
    endpoint_attrs = [
        schema.Attribute(name, types.String(), optional=True) for name in ENDPOINT_SERVICES
    ]
    return schema.Schema(
        version=0,
        attributes=[
            schema.Attribute("region", types.String(), optional=True),
            schema.Attribute("access_key", types.String(), optional=True),
            schema.Attribute("secret_key", types.String(), optional=True, sensitive=True),
            schema.Attribute("profile", types.String(), optional=True),
            schema.Attribute("skip_credentials_validation", types.Bool(), optional=True),
            schema.Attribute("skip_requesting_account_id", types.Bool(), optional=True),
            # A string in the real provider too (it accepts "true"/"false" and bools).
            schema.Attribute("skip_metadata_api_check", types.String(), optional=True),
            schema.Attribute("skip_region_validation", types.Bool(), optional=True),
            schema.Attribute("s3_use_path_style", types.Bool(), optional=True),
        ],
        block_types=[SetNestedBlock("endpoints", schema.Block(attributes=endpoint_attrs))],
    )


class SandboxAwsProvider(Provider):
    """Holds the configured AWS clients; Terraform configures it once per command."""

    def __init__(self) -> None:
        self.clients: AwsClients | None = None

    def get_model_prefix(self) -> str:
        return "aws_"

    def full_name(self) -> str:
        return PROVIDER_SOURCE

    def get_provider_schema(self, diags: Diagnostics) -> schema.Schema:
        return provider_schema()

    def validate_config(self, diags: Diagnostics, config: Config) -> None:
        for name in ("profile",):
            value = config.get(name)
            if value is not None and not isinstance(value, str):
                diags.add_error(f"provider aws: {name} must be a string", path=[name])

    def configure_provider(self, diags: Diagnostics, config: Config) -> None:
        try:
            self.clients = AwsClients(settings_from_config(config))
        except Exception as exc:  # botocore raises many types for a bad profile
            diags.add_error("provider aws: cannot configure the AWS session", str(exc))

    def get_data_sources(self) -> list[type[DataSource]]:
        return []

    def get_resources(self) -> list[type[Resource]]:
        from infra_gitops.sandbox.resources import RESOURCES

        return list(RESOURCES)

    def aws(self, service: str) -> Any:
        if self.clients is None:
            # Terraform always configures before CRUD; import can come first.
            self.clients = AwsClients(settings_from_config({}))
        return self.clients.client(service)
