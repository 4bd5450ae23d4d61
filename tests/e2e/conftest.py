"""End-to-end fixtures: the real CLI process, a real Git repo, the embedded Terraform,
the moto server and the Python provider.

One sandbox (moto server + one reattached provider process) serves the session; every
test gets its own state dir (records, work dirs) linked to it, its own infra repo, and
an emptied cloud.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_helpers import PROJECT, SECRET, Env, git, terraform_only

from infra_gitops import sandbox
from infra_gitops.sandbox import emulator


@pytest.fixture(scope="session")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[sandbox.SandboxInfo, str]]:
    """`sandbox up` once per session, plus one provider process for every command."""
    state_dir = tmp_path_factory.mktemp("cloud")
    info = sandbox.up(state_dir)
    try:
        with info.reattached_env(log_file=state_dir / "provider.log") as env:
            yield info, env["TF_REATTACH_PROVIDERS"]
    finally:
        sandbox.down(state_dir)


@pytest.fixture
def e2e(tmp_path: Path, cloud: tuple[sandbox.SandboxInfo, str]) -> Env:
    """A fresh infra repo (the example stacks, one commit), state dir and empty cloud."""
    info, reattach = cloud
    emulator.reset(info.endpoint)
    sandbox.ensure_bucket(info.endpoint, info.state_bucket, info.region)
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    # The session's sandbox serves this state dir too: `sandbox status` finds it here.
    (state_dir / "sandbox").symlink_to(sandbox.sandbox_dir(info.state_dir))
    repo = tmp_path / "infra"
    repo.mkdir()
    # The Terraform stacks of the example repo; the Pulumi one needs a CLI we lack
    # (test_e2e_pulumi_missing.py covers the full manifest).
    (repo / "gitops.yaml").write_text(terraform_only(PROJECT / "gitops.yaml"))
    shutil.copytree(PROJECT / "stacks", repo / "stacks")
    git(repo, "init", "-q", "--initial-branch=main")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_", "INFRA_GITOPS"))}
    env.update(TF_REATTACH_PROVIDERS=reattach, DEMO_DB_PASSWORD=SECRET)
    made = Env(repo=repo, state_dir=state_dir, cloud=info, env=env)
    made.commit("Declare storage and app stacks")
    return made


@pytest.fixture
def applied(e2e: Env) -> Env:
    """The example stacks applied."""
    result = e2e.cli("apply", "--auto-approve")
    assert result.code == 0, result.output
    return e2e
