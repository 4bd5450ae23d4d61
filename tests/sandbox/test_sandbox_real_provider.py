"""`sandbox up --provider-mirror DIR` (real_provider.py): the mirror checked up front, the
choice recorded for later commands, the CLI config and the override the real provider
gets. The real provider running the stacks: tests/real_provider/."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from infra_gitops import sandbox
from infra_gitops.sandbox import real_provider
from tests.e2e.e2e_helpers import cli_argv

PLATFORM = real_provider.terraform_platform()
PACKAGE = Path("registry.terraform.io/hashicorp/aws")


def _unpacked(root: Path, version: str, platform: str = PLATFORM) -> Path:
    binary = root / PACKAGE / version / platform / f"terraform-provider-aws_v{version}_x5"
    binary.parent.mkdir(parents=True, exist_ok=True)
    binary.write_bytes(b"not really a provider")
    return root


def _cli(state_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "INFRA_GITOPS"))}
    return subprocess.run(
        [*cli_argv(), "sandbox", *args, "--state-dir", str(state_dir)],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_mirror_layouts_terraform_writes_are_found(tmp_path: Path) -> None:
    _unpacked(tmp_path / "unpacked", "5.100.0")
    _unpacked(tmp_path / "unpacked", "5.9.1")
    found = real_provider.inspect_mirror(tmp_path / "unpacked")
    assert found.versions == ("5.9.1", "5.100.0")  # by version, not by text

    packed = tmp_path / "packed" / PACKAGE
    packed.mkdir(parents=True)
    (packed / f"terraform-provider-aws_5.99.0_{PLATFORM}.zip").write_bytes(b"zip")
    (packed / "terraform-provider-aws_5.98.0_plan9_amd64.zip").write_bytes(b"zip")
    (packed / "index.json").write_text("{}")
    assert real_provider.inspect_mirror(tmp_path / "packed").versions == ("5.99.0",)


@pytest.mark.parametrize(
    ("layout", "says"),
    [
        ("none", "no such directory"),
        ("empty", "no registry.terraform.io/hashicorp/aws in it"),
        ("other-platform", f"holds no hashicorp/aws for {PLATFORM}"),
    ],
)
def test_a_bad_mirror_names_the_path_and_what_is_missing(
    tmp_path: Path, layout: str, says: str
) -> None:
    mirror = tmp_path / "mirror"
    if layout == "empty":
        mirror.mkdir()
    if layout == "other-platform":
        _unpacked(mirror, "5.100.0", "plan9_amd64")
    state_dir = tmp_path / "state"

    done = _cli(state_dir, "up", "--provider-mirror", str(mirror))

    assert done.returncode == 1, done.stderr
    assert f"provider mirror {mirror}: " in done.stderr and says in done.stderr
    assert "Traceback" not in done.stderr
    # Checked before anything starts: no emulator left running, nothing recorded.
    assert not (state_dir / "sandbox" / "sandbox.json").exists()


def test_the_flag_is_only_for_up(tmp_path: Path) -> None:
    done = _cli(tmp_path, "status", "--provider-mirror", str(tmp_path))
    assert done.returncode == 1
    assert "--provider-mirror: only with `sandbox up`" in done.stderr


def test_up_records_the_choice_and_up_without_it_goes_back(tmp_path: Path) -> None:
    mirror = _unpacked(tmp_path / "mirror", "5.100.0")
    state_dir = tmp_path / "state"
    try:
        done = _cli(state_dir, "up", INFRA_GITOPS_PROVIDER_MIRROR=str(mirror))
        assert done.returncode == 0, done.stderr
        info = sandbox.status(state_dir)
        assert info is not None and info.real_provider is not None
        assert info.real_provider.versions == ("5.100.0",)
        config = info.cli_config.read_text()
        assert f'path    = "{mirror.resolve()}"' in config
        assert '"registry.terraform.io/hashicorp/aws"' in config and "direct" not in config
        status = json.loads(_cli(state_dir, "status", "--json").stdout)["result"]["provider"]
        assert status == {
            "kind": "real",
            "source": "hashicorp/aws",
            "versions": ["5.100.0"],
            "mirror": str(mirror.resolve()),
        }

        assert _cli(state_dir, "up").returncode == 0
        back = sandbox.status(state_dir)
        assert back is not None and back.real_provider is None
        assert back.endpoint == info.endpoint  # the same emulator, another provider
        assert "infra-gitops.local/sandbox/aws" in _cli(state_dir, "status").stdout
    finally:
        sandbox.down(state_dir)


def test_the_override_points_the_real_provider_at_the_emulator(tmp_path: Path) -> None:
    chosen = real_provider.MirroredProvider(tmp_path, ("5.100.0",))
    info = sandbox.SandboxInfo(
        tmp_path, "http://127.0.0.1:5000", 1, tmp_path / "rc", real_provider=chosen
    )
    ((name, text),) = info.override_files().items()
    assert name.endswith("_override.tf")
    for service in ("s3", "sqs", "ssm", "sts"):
        assert f'{service:<3} = "http://127.0.0.1:5000"' in text
    flat = " ".join(text.split())
    for flag in (
        "skip_credentials_validation",
        "skip_requesting_account_id",
        "skip_metadata_api_check",
        "s3_use_path_style",
    ):
        assert f"{flag} = true" in flat
    assert 'access_key = "test"' in flat and 'secret_key = "test"' in flat
    # No version and no source: the stack's own constraint picks from the mirror.
    assert "required_providers" not in text and "region" not in text
    env = info.terraform_env()
    assert env["AWS_PROFILE"] == env["AWS_SESSION_TOKEN"] == ""


def test_up_works_with_a_profile_missing_from_the_users_aws_config(tmp_path: Path) -> None:
    # A CI runner's AWS_PROFILE names a profile this machine lacks: the emulator and the
    # state bucket need none (moto read it on every request and failed them all).
    done = _cli(tmp_path, "up", AWS_PROFILE="not-on-this-machine")
    try:
        assert done.returncode == 0, done.stderr
        info = sandbox.status(tmp_path)
        assert info is not None
        s3 = sandbox.client("s3", info.endpoint)
        assert "infra-gitops-state" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    finally:
        sandbox.down(tmp_path)
