"""The real hashicorp/aws provider on the sandbox's emulator, from a filesystem mirror.

`sandbox up --provider-mirror DIR` runs the stacks with the provider users run in
production instead of the sandbox provider. DIR is a provider mirror as
`terraform providers mirror DIR` makes it (packed: HOST/NAMESPACE/TYPE/*.zip) or as
Terraform's unpacked layout (HOST/NAMESPACE/TYPE/VERSION/OS_ARCH/). Terraform installs
from it only (no `direct` block: offline); override files give the provider the emulator's
endpoints and dummy keys. No provider process is kept across commands (reattach): the
stack's own version constraint chooses among the mirror's versions, init by init.
"""

from __future__ import annotations

import json
import platform
import re
from dataclasses import dataclass
from pathlib import Path

from infra_gitops import hcl
from infra_gitops.errors import SandboxError
from infra_gitops.sandbox import mirror
from infra_gitops.sandbox.provider_names import ENDPOINT_SERVICES

HOST = "registry.terraform.io"
NAMESPACE = "hashicorp"
TYPE = "aws"
SOURCE = f"{NAMESPACE}/{TYPE}"
CLI_CONFIG_NAME = "terraform-real-provider.rc"
CHOICE_FILE_NAME = "provider.json"
# The dummy keys the emulator accepts (the same as the sandbox's environment).
_DUMMY_KEY = "test"
_PACKED = re.compile(rf"terraform-provider-{TYPE}_(?P<version>[^_]+)_(?P<platform>\w+_\w+)\.zip")


@dataclass(frozen=True)
class MirroredProvider:
    """hashicorp/aws as a provider mirror holds it, for this machine's platform."""

    mirror_dir: Path
    versions: tuple[str, ...]
    """The versions present for this platform, oldest first (the stack's constraint
    picks one at init)."""

    def describe(self) -> str:
        return f"{SOURCE} {', '.join(self.versions)} (the real provider, from {self.mirror_dir})"


def inspect_mirror(mirror_dir: Path, platform_name: str | None = None) -> MirroredProvider:
    """The hashicorp/aws versions mirror_dir holds for this platform, or a SandboxError
    naming the path and what is missing there."""
    wanted = platform_name or terraform_platform()
    if not mirror_dir.is_dir():
        raise SandboxError(f"provider mirror {mirror_dir}: no such directory")
    package_dir = mirror_dir / HOST / NAMESPACE / TYPE
    if not package_dir.is_dir():
        raise SandboxError(
            f"provider mirror {mirror_dir}: no {HOST}/{NAMESPACE}/{TYPE} in it (expected "
            f"a provider mirror holding {SOURCE}, as `terraform providers mirror DIR` makes)"
        )
    versions = sorted(_versions(package_dir, wanted), key=_version_key)
    if not versions:
        raise SandboxError(
            f"provider mirror {mirror_dir}: {package_dir} holds no {SOURCE} for {wanted} "
            f"(expected VERSION/{wanted}/ or terraform-provider-{TYPE}_VERSION_{wanted}.zip)"
        )
    return MirroredProvider(mirror_dir=mirror_dir.resolve(), versions=tuple(versions))


def terraform_platform() -> str:
    """This machine as Terraform names platforms: linux_amd64, darwin_arm64, ..."""
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "aarch64": "arm64", "i686": "386"}.get(machine, machine)
    return f"{platform.system().lower()}_{arch}"


def install(sandbox_dir: Path, provider: MirroredProvider) -> Path:
    """Write the CLI config that takes hashicorp/aws from the mirror only; its path."""
    paths = mirror.mirror_paths(sandbox_dir)
    paths.plugin_cache_dir.mkdir(parents=True, exist_ok=True)
    cli_config = sandbox_dir / CLI_CONFIG_NAME
    text = mirror.cli_config_text(provider.mirror_dir, paths.plugin_cache_dir, f"{HOST}/{SOURCE}")
    mirror.write_if_changed(cli_config, text.encode(), mode=0o644)
    return cli_config


def override_files(endpoint: str) -> dict[str, str]:
    """File name -> content for a stack's snapshot copy: the stack's `provider "aws"`
    pointed at the emulator. Terraform merges it into the stack's block (or makes it the
    block when the stack has none); the region stays the stack's own (else AWS_REGION)."""
    endpoints = "".join(
        f"    {service:<3} = {hcl.string(endpoint)}\n" for service in ENDPOINT_SERVICES
    )
    content = (
        "# Written by infra-gitops into a snapshot copy only: the real hashicorp/aws on the\n"
        "# sandbox's emulator, with dummy keys (never the user's credentials).\n"
        'provider "aws" {\n'
        f"  access_key                  = {hcl.string(_DUMMY_KEY)}\n"
        f"  secret_key                  = {hcl.string(_DUMMY_KEY)}\n"
        "  skip_credentials_validation = true\n"
        "  skip_requesting_account_id  = true\n"
        "  skip_metadata_api_check     = true\n"
        "  s3_use_path_style           = true\n"
        "  endpoints {\n"
        f"{endpoints}"
        "  }\n"
        "}\n"
    )
    return {mirror.OVERRIDE_FILE_NAME: content}


def _versions(package_dir: Path, wanted: str) -> set[str]:
    unpacked = {
        child.name
        for child in package_dir.iterdir()
        if child.is_dir() and (child / wanted).is_dir() and any((child / wanted).iterdir())
    }
    packed = {
        match["version"]
        for child in package_dir.iterdir()
        if (match := _PACKED.fullmatch(child.name)) and match["platform"] == wanted
    }
    return unpacked | packed


def _version_key(version: str) -> tuple[tuple[int, str], ...]:
    return tuple((int(p), "") if p.isdigit() else (-1, p) for p in re.split(r"[.+-]", version))


def record(sandbox_dir: Path, provider: MirroredProvider | None) -> None:
    """Remember the choice for later commands on this state dir (None: the sandbox's own)."""
    path = sandbox_dir / CHOICE_FILE_NAME
    if provider is None:
        path.unlink(missing_ok=True)
        return
    body = {"mirror_dir": str(provider.mirror_dir), "versions": list(provider.versions)}
    mirror.write_if_changed(path, (json.dumps(body, indent=2) + "\n").encode(), mode=0o644)


def recorded(sandbox_dir: Path) -> MirroredProvider | None:
    """The real provider `sandbox up --provider-mirror` chose, or None (the sandbox's own)."""
    path = sandbox_dir / CHOICE_FILE_NAME
    try:
        body = json.loads(path.read_text())
        return MirroredProvider(Path(body["mirror_dir"]), tuple(map(str, body["versions"])))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as exc:
        raise SandboxError(
            f"{path}: unreadable ({exc}); run `infra-gitops sandbox up` again"
        ) from exc
