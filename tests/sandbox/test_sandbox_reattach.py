"""One provider process for many Terraform commands (TF_REATTACH_PROVIDERS)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
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


_OWNER_OF_A_PROVIDER = """
import json, sys, time
from infra_gitops.sandbox.reattach import reattached_provider
from sandbox_helpers import base_env
with reattached_provider(base_env()) as value:
    entry = json.loads(value)["infra-gitops.local/sandbox/aws"]
    print(entry["Pid"], flush=True)
    time.sleep(120)
"""


def _gone(pid: int) -> bool:
    # A zombie has ended (in a container, nobody may collect it).
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rindex(")") + 2] in "ZX"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_provider_dies_when_its_owner_is_killed_with_sigkill() -> None:
    owner = subprocess.Popen(
        [sys.executable, "-c", _OWNER_OF_A_PROVIDER],
        cwd=Path(__file__).parent,
        env={**base_env(), "PYTHONPATH": os.pathsep.join(sys.path)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert owner.stdout is not None
        provider_pid = int(owner.stdout.readline())
        assert not _gone(provider_pid)
        # In its own session: no signal to the owner's group reaches it.
        assert os.getsid(provider_pid) != os.getsid(owner.pid)
        owner.kill()
        owner.wait()
        deadline = time.monotonic() + 5
        while not _gone(provider_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _gone(provider_pid), "the provider outlived the process that started it"
    finally:
        owner.kill()
        owner.wait()
        if owner.stdout is not None:
            owner.stdout.close()
