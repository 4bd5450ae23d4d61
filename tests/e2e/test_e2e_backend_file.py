"""A stack's state settings from a .tfbackend file (manifest `backend_file`), end to end:
the CLI, the embedded Terraform and its S3 backend on a real moto server (no sandbox:
the file alone says where the state goes). The stack has only Terraform's built-in
`terraform_data`, so no provider is needed."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_helpers import cli_argv, git

from infra_gitops import hcl, sandbox
from infra_gitops.sandbox import emulator

BUCKET = "backend-file-e2e-state"
STACK = (
    'terraform {\n  backend "s3" {}\n}\n\nresource "terraform_data" "marker" {\n  input = "x"\n}\n'
)


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("backend-file-moto") / "emulator.log"
    with emulator.running_emulator(log) as running:
        sandbox.ensure_bucket(running.endpoint, BUCKET)
        yield running.endpoint


def _backend_file(endpoint: str, key: str) -> str:
    return "# The state of stack a, on the test's moto server.\n" + hcl.attributes(
        {
            "bucket": BUCKET,
            "key": key,
            "region": "us-east-1",
            "endpoints": {"s3": endpoint},
            "use_path_style": True,
            "access_key": "test",
            "secret_key": "test",
            "skip_credentials_validation": True,
            "skip_requesting_account_id": True,
            "skip_metadata_api_check": True,
        }
    )


def _repo(root: Path, endpoint: str, key: str, extra: str = "") -> Path:
    (root / "stacks" / "a").mkdir(parents=True)
    (root / "stacks" / "a" / "main.tf").write_text(STACK)
    (root / "env").mkdir()
    (root / "env" / "a.tfbackend").write_text(_backend_file(endpoint, key))
    (root / "gitops.yaml").write_text(
        "version: 1\nstacks:\n  - name: a\n    path: stacks/a\n"
        f"    backend_file: env/a.tfbackend\n{extra}"
    )
    git(root, "init", "-q", "--initial-branch=main")
    _commit(root)
    return root


def _commit(repo: Path) -> None:
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-qm", "change")


def _cli(repo: Path, *args: str) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_", "INFRA_GITOPS"))}
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    done = subprocess.run(
        [*cli_argv(), *args, "--repo", str(repo), "--state-dir", str(repo.parent / "state")],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def _state_keys(endpoint: str) -> set[str]:
    s3 = sandbox.client("s3", endpoint)
    return {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])}


def test_the_state_goes_where_the_file_says_and_a_change_to_it_inits_again(
    tmp_path: Path, endpoint: str
) -> None:
    repo = _repo(tmp_path / "infra", endpoint, "teams/a/state.tfstate")

    code, output = _cli(repo, "apply", "--auto-approve")
    assert code == 0, output
    assert "teams/a/state.tfstate" in _state_keys(endpoint)

    # Another key in the file: init runs again (-reconfigure) and finds no state there.
    (repo / "env" / "a.tfbackend").write_text(_backend_file(endpoint, "teams/a/moved.tfstate"))
    _commit(repo)
    code, output = _cli(repo, "plan")
    assert code == 2, output
    assert "1 to create" in output


def test_the_manifests_backend_settings_win_over_the_file(tmp_path: Path, endpoint: str) -> None:
    extra = "    backend: {key: from-manifest/a.tfstate}\n"
    repo = _repo(tmp_path / "infra", endpoint, "from-file/a.tfstate", extra)

    code, output = _cli(repo, "apply", "--auto-approve")
    assert code == 0, output
    keys = _state_keys(endpoint)
    assert "from-manifest/a.tfstate" in keys
    assert "from-file/a.tfstate" not in keys
