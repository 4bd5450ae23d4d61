"""Fixtures of the pipeline tests: the cloud both jobs reach, the infra repo and its
remote, the infra-gitops repository the pipelines install from, the stand-in API."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
import yaml
from pipeline_world import PROJECT, Cloud, Machine, run_git, upstream_mirror

from infra_gitops import sandbox
from infra_gitops.sandbox import emulator

sys.path.insert(0, str(PROJECT / "tests" / "ci"))
from ci_standin import StandinState, standin_api  # noqa: E402

PINNED = "v0.1.0"
"""The infra-gitops ref the examples pin (test_pipelines_run checks they all do)."""
SECRET = "ci-examples-Secret-51d3"
AUTHOR = ("-c", "user.name=Dev", "-c", "user.email=dev@example.com")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    """The sandbox's moto server, alive across both jobs (the user's real account)."""
    state_dir = tmp_path_factory.mktemp("cloud")
    info = sandbox.up(state_dir)
    try:
        with info.reattached_env(log_file=state_dir / "provider.log") as env:
            yield Cloud(info, env["TF_REATTACH_PROVIDERS"])
    finally:
        sandbox.down(state_dir)


@pytest.fixture(scope="module")
def git_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return upstream_mirror(tmp_path_factory.mktemp("upstream"), PINNED)


@pytest.fixture
def api() -> Iterator[tuple[str, StandinState]]:
    with standin_api() as served:
        yield served


@dataclass(frozen=True)
class Infra:
    """The user's infra repo: a bare remote and a developer's clone, main applied."""

    origin: Path
    dev: Path
    cloud: Cloud
    tmp: Path
    git_config: Path

    def commit_and_push(self, message: str, branch: str) -> str:
        run_git(self.dev, "add", "-A")
        run_git(self.dev, *AUTHOR, "commit", "-q", "-m", message)
        run_git(self.dev, "push", "-q", "origin", branch)
        return run_git(self.dev, "rev-parse", "HEAD")

    def test_merge(self, branch: str, number: int) -> str:
        """GitHub's refs/pull/N/merge: branch merged into main, main not moved."""
        run_git(self.dev, "checkout", "-q", "--detach", "main")
        run_git(self.dev, *AUTHOR, "merge", "-q", "--no-ff", "-m", "Test merge", branch)
        run_git(self.dev, "push", "-q", "origin", f"HEAD:refs/pull/{number}/merge")
        sha = run_git(self.dev, "rev-parse", "HEAD")
        run_git(self.dev, "checkout", "-q", branch)
        return sha

    def merge(self, branch: str) -> str:
        """Merge branch into main with a merge commit (the pull request's merge button)."""
        run_git(self.dev, "checkout", "-q", "main")
        run_git(self.dev, *AUTHOR, "merge", "-q", "--no-ff", "-m", f"Merge {branch}", branch)
        run_git(self.dev, "push", "-q", "origin", "main")
        return run_git(self.dev, "rev-parse", "HEAD")

    def machine(self, name: str) -> Machine:
        return Machine(self.tmp / name, self.cloud, self.git_config)

    def s3(self) -> object:
        return boto3.client(
            "s3",
            endpoint_url=self.cloud.info.endpoint,
            region_name=self.cloud.info.region,
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )


@pytest.fixture
def infra(tmp_path: Path, cloud: Cloud, git_config: Path) -> Infra:
    """storage and app declared on main, pushed and applied by an admin; an empty cloud
    before that."""
    emulator.reset(cloud.info.endpoint)
    sandbox.ensure_bucket(cloud.info.endpoint, cloud.info.state_bucket, cloud.info.region)
    origin, dev = tmp_path / "origin.git", tmp_path / "dev"
    run_git(tmp_path, "init", "-q", "--bare", "--initial-branch=main", str(origin))
    run_git(tmp_path, "clone", "-q", str(origin), str(dev))
    run_git(dev, "checkout", "-q", "-b", "main")
    for name in ("storage", "app"):
        shutil.copytree(PROJECT / "stacks" / name, dev / "stacks" / name)
    (dev / "gitops.yaml").write_text(_terraform_manifest())
    made = Infra(origin, dev, cloud, tmp_path, git_config)
    made.commit_and_push("Declare storage and app", "main")
    _admin_apply(made)
    return made


def _terraform_manifest() -> str:
    """The example repo's manifest without its Pulumi stack (no `pulumi` CLI here)."""
    manifest = yaml.safe_load((PROJECT / "gitops.yaml").read_text())
    manifest["stacks"] = [s for s in manifest["stacks"] if s.get("engine") != "pulumi"]
    assert [s["name"] for s in manifest["stacks"]] == ["storage", "app"], manifest["stacks"]
    return yaml.safe_dump(manifest, sort_keys=False)


def _admin_apply(infra: Infra) -> None:
    state_dir = infra.tmp / "admin-state"
    infra.cloud.link_into(state_dir)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_", "INFRA_GITOPS"))}
    env.update(TF_REATTACH_PROVIDERS=infra.cloud.reattach, DEMO_DB_PASSWORD=SECRET)
    cli = Path(sys.executable).parent / "infra-gitops"
    argv = [
        str(cli),
        "apply",
        "--auto-approve",
        "--repo",
        str(infra.dev),
        "--state-dir",
        str(state_dir),
    ]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
