"""The provider mirror, the CLI config, the override file and the backend file."""

from __future__ import annotations

import os
import sys
import zipfile
from pathlib import Path

from infra_gitops.sandbox import mirror


def test_install_writes_an_executable_launcher_for_this_python(tmp_path: Path) -> None:
    paths = mirror.install(tmp_path)
    text = paths.launcher.read_text()
    assert text.splitlines()[0] == f"#!{sys.executable}"
    assert "infra_gitops.sandbox.provider_main" in text
    assert os.access(paths.launcher, os.X_OK)


def test_mirror_holds_the_packed_layout_terraform_expects(tmp_path: Path) -> None:
    paths = mirror.install(tmp_path)
    package = paths.mirror_dir / "infra-gitops.local" / "sandbox" / "aws"
    archive = package / "terraform-provider-aws_0.1.0_linux_amd64.zip"
    with zipfile.ZipFile(archive) as zf:
        (entry,) = zf.infolist()
        assert entry.filename == "terraform-provider-aws_v0.1.0"
        assert (entry.external_attr >> 16) & 0o111  # unpacks executable
        assert zf.read(entry) == paths.launcher.read_bytes()


def test_install_is_idempotent_byte_for_byte(tmp_path: Path) -> None:
    first = mirror.install(tmp_path)
    zips = sorted(first.mirror_dir.rglob("*.zip"))
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in [*zips, first.cli_config]}
    mirror.install(tmp_path)
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in before}
    assert after == before  # same hashes in lock files, nothing rewritten


def test_cli_config_only_allows_the_mirror(tmp_path: Path) -> None:
    text = mirror.cli_config_text(tmp_path / "mirror", tmp_path / "cache")
    assert f'path    = "{tmp_path / "mirror"}"' in text
    assert 'include = ["infra-gitops.local/*/*"]' in text
    assert f'plugin_cache_dir   = "{tmp_path / "cache"}"' in text
    assert "direct" not in text


def test_override_swaps_the_aws_provider_source() -> None:
    (name, text), *others = mirror.override_files().items()
    assert others == []
    assert name.endswith("_override.tf")  # Terraform merges *_override.tf over the stack
    assert 'source  = "infra-gitops.local/sandbox/aws"' in text
    assert 'version = "0.1.0"' in text
