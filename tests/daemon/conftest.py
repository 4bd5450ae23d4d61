"""Daemon test fixtures: one sandbox (moto + one reattached provider) per session; each
test gets a bare remote, a working clone with the example stacks, a state dir and an
emptied cloud. Every daemon a test starts is killed (with its process group) at the end.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_helpers import MANIFEST, PROJECT, SECRET, World, git, kill_engine_processes

from infra_gitops import sandbox
from infra_gitops.sandbox import emulator


@pytest.fixture(scope="session")
def daemon_cloud(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[sandbox.SandboxInfo, str]]:
    state_dir = tmp_path_factory.mktemp("daemon-cloud")
    info = sandbox.up(state_dir)
    try:
        with info.reattached_env(log_file=state_dir / "provider.log") as env:
            yield info, env["TF_REATTACH_PROVIDERS"]
    finally:
        sandbox.down(state_dir)


@pytest.fixture
def world(tmp_path: Path, daemon_cloud: tuple[sandbox.SandboxInfo, str]) -> Iterator[World]:
    info, reattach = daemon_cloud
    emulator.reset(info.endpoint)
    sandbox.ensure_bucket(info.endpoint, info.state_bucket, info.region)
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    (state_dir / "sandbox").symlink_to(sandbox.sandbox_dir(info.state_dir))
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "--initial-branch=main", str(remote))
    work = tmp_path / "work"
    work.mkdir()
    (work / "gitops.yaml").write_text(MANIFEST)
    for name in ("storage", "app"):
        shutil.copytree(PROJECT / "stacks" / name, work / "stacks" / name)
    git(work, "init", "-q", "--initial-branch=main")
    git(work, "remote", "add", "origin", str(remote))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_", "INFRA_GITOPS"))}
    env.update(TF_REATTACH_PROVIDERS=reattach, DEMO_DB_PASSWORD=SECRET)
    made = World(remote=remote, work=work, state_dir=state_dir, cloud=info, env=env)
    try:
        yield made
    finally:
        for daemon in made.daemons:
            daemon.kill_all()
            print(f"--- {daemon.log_file.name}\n{daemon.log}")  # shown when a test fails
        kill_engine_processes(tmp_path)
