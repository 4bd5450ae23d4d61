"""One provider process for many Terraform commands (TF_REATTACH_PROVIDERS)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from sandbox_helpers import Terraform, base_env, work_copy

from infra_gitops.sandbox import SandboxInfo
from infra_gitops.sandbox.reattach import reattached_provider


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_reattach_value_names_the_provider_and_dies_with_the_block() -> None:
    with reattached_provider(base_env()) as value:
        config = json.loads(value)
        entry = config["infra-gitops.local/sandbox/aws"]
        assert entry["ProtocolVersion"] == 6
        assert Path(entry["Addr"]["String"]).is_socket()
        socket = Path(entry["Addr"]["String"])
        pid = entry["Pid"]
        assert _alive(pid)
    assert not _alive(pid)
    assert not socket.parent.exists()  # its temporary directory is cleaned up too


@pytest.mark.e2e
def test_init_needs_no_mirror_when_the_provider_is_reattached(
    sandbox: SandboxInfo, terraform: Terraform, tmp_path: Path
) -> None:
    no_mirror = tmp_path / "no-mirror.rc"
    no_mirror.write_text(
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path = "{tmp_path / "empty"}"\n'
        '    include = ["nothing.local/*/*"]\n  }\n}\n'
    )
    stack = work_copy("storage", tmp_path, sandbox)
    result = terraform(
        stack,
        "init",
        "-input=false",
        "-no-color",
        "-backend-config=sandbox.tfbackend",
        extra_env={"TF_CLI_CONFIG_FILE": str(no_mirror)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # Terraform treats a reattached provider as unmanaged: nothing installed, nothing locked.
    assert not (stack / ".terraform.lock.hcl").exists()
    plan = terraform(
        stack,
        "plan",
        "-input=false",
        "-no-color",
        extra_env={"TF_CLI_CONFIG_FILE": str(no_mirror)},
    )
    assert plan.returncode == 0, plan.stderr
    assert "Plan: 2 to add" in plan.stdout
