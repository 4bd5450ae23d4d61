"""The real hashicorp/aws provider on the local cloud, end to end through the CLI.

`infra-gitops sandbox up --provider-mirror DIR` on a real moto server, the example stacks
storage + app, the embedded Terraform and the real provider from the mirror: apply, a
hand-made tag change reported as drift, healed, and no drift after (tags_all makes no
perpetual diff). Skipped (never passed) when no mirror holding hashicorp/aws is found.

The real provider is ~10x slower than the sandbox's (it waits ~25 s for an SQS queue's
attributes to settle, and every Terraform command loads its schema): one sandbox and one
apply serve the module, and the tests run in file order on it.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra_gitops import sandbox
from infra_gitops.errors import SandboxError
from infra_gitops.sandbox import real_provider
from tests.e2e.e2e_helpers import PROJECT, SECRET, Env, git, tags, terraform_only

MIRROR_ENV = "INFRA_GITOPS_TEST_PROVIDER_MIRROR"
DEFAULT_MIRROR = Path("/opt/tf-plugins")
BUCKET = "demo-dev-artifacts"
QUEUE = "demo-dev-jobs"


def _find_mirror() -> tuple[Path | None, str]:
    """The first place holding hashicorp/aws, and what was looked at (for the skip)."""
    given = os.environ.get(MIRROR_ENV, "").strip()
    candidates = [Path(given)] if given else [DEFAULT_MIRROR]
    looked = []
    for candidate in candidates:
        try:
            real_provider.inspect_mirror(candidate)
            return candidate, ""
        except SandboxError as exc:
            looked.append(str(exc))
    where = f"${MIRROR_ENV}={given}" if given else f"${MIRROR_ENV} (unset), then {DEFAULT_MIRROR}"
    return None, f"no provider mirror holding hashicorp/aws: looked in {where}: {looked[-1]}"


MIRROR, WHY_NOT = _find_mirror()
if MIRROR is None:
    pytest.skip(WHY_NOT, allow_module_level=True)


@pytest.fixture(scope="module")
def lane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """The example repo on a sandbox running the real provider, applied once."""
    root = tmp_path_factory.mktemp("real-provider")
    repo, state_dir = root / "infra", root / "state"
    repo.mkdir()
    (repo / "gitops.yaml").write_text(terraform_only(PROJECT / "gitops.yaml"))
    shutil.copytree(PROJECT / "stacks", repo / "stacks", ignore=shutil.ignore_patterns(".*"))
    git(repo, "init", "-q", "--initial-branch=main")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_", "INFRA_GITOPS"))}
    env["DEMO_DB_PASSWORD"] = SECRET
    # The user's profile must not reach the real provider (nor the S3 backend): both fail
    # on a profile missing from ~/.aws, so every command here succeeds only if it does not.
    env["AWS_PROFILE"] = "someone-elses-production"
    env["AWS_SESSION_TOKEN"] = "user-session-token-0d5c"
    # The cloud is known once `sandbox up` ran: a placeholder until then (cli() needs none).
    placeholder = sandbox.SandboxInfo(state_dir, "", 0, state_dir)
    made = Env(repo=repo, state_dir=state_dir, cloud=placeholder, env=env)
    made.commit("Declare storage and app stacks")
    up = made.cli("sandbox", "up", "--provider-mirror", str(MIRROR))
    try:
        assert up.code == 0, up.output
        info = sandbox.status(state_dir)
        assert info is not None
        ready = Env(repo=repo, state_dir=state_dir, cloud=info, env=env)
        yield ready
    finally:
        made.cli("sandbox", "down")


@pytest.fixture(scope="module")
def applied(lane: Env) -> Env:
    result = lane.cli("apply", "--auto-approve", timeout=280)
    assert result.code == 0, result.output
    return lane


def test_status_names_the_real_provider_and_its_version(lane: Env) -> None:
    result = lane.cli("sandbox", "status", "--json")
    assert result.code == 0, result.output
    provider = json.loads(result.stdout)["result"]["provider"]
    assert provider["kind"] == "real"
    assert provider["source"] == "hashicorp/aws"
    assert provider["mirror"] == str(MIRROR.resolve())
    assert "5.100.0" in provider["versions"]
    text = lane.cli("sandbox", "status")
    assert "hashicorp/aws 5.100.0" in text.stdout


def test_apply_creates_the_bucket_with_its_tags_and_the_queue(applied: Env) -> None:
    assert tags(applied, BUCKET) == {
        "environment": "dev",
        "managed_by": "infra-gitops",
        "stack": "storage",
    }
    queues = applied.aws("sqs").list_queues(QueueNamePrefix=QUEUE).get("QueueUrls", [])
    assert [url.rsplit("/", 1)[-1] for url in queues] == [QUEUE]
    parameter = applied.aws("ssm").get_parameter(Name="/demo/dev/queue_url")["Parameter"]
    assert parameter["Value"] == queues[0]


def test_the_real_provider_ran_and_stored_its_state_in_the_emulator(applied: Env) -> None:
    state_object = applied.aws("s3").get_object(
        Bucket=applied.cloud.state_bucket, Key="storage/terraform.tfstate"
    )
    state = json.loads(state_object["Body"].read())
    bucket = next(r for r in state["resources"] if r["type"] == "aws_s3_bucket")
    assert bucket["provider"] == 'provider["registry.terraform.io/hashicorp/aws"]'
    attributes = bucket["instances"][0]["attributes"]
    # What the real provider stores and ours does not (README: "Differences with the
    # real provider").
    assert attributes["tags_all"] == attributes["tags"]
    assert len(attributes) > 20


def test_a_hand_made_tag_change_is_drift_healed_then_gone(applied: Env) -> None:
    s3 = applied.aws("s3")
    hacked = {**tags(applied, BUCKET), "environment": "hacked"}
    s3.put_bucket_tagging(
        Bucket=BUCKET, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in hacked.items()]}
    )

    drift = applied.cli("drift", "--stack", "storage", "--json")
    assert drift.code == 2, drift.output
    (stack,) = json.loads(drift.stdout)["result"]["stacks"]
    # One tag changed by hand is one drifted resource; the real provider reports the
    # change on tags and on tags_all (tags merged with the provider's default_tags).
    (resource,) = stack["plan"]["drift"]
    assert resource["address"] == "aws_s3_bucket.artifacts"
    assert set(resource["changed_paths"]) == {"tags.environment", "tags_all.environment"}
    assert resource["after"]["tags"]["environment"] == "hacked"

    healed = applied.cli("drift", "--stack", "storage", "--heal")
    # 2: drift was found (and healed, as the line says).
    assert healed.code == 2, healed.output
    assert "storage: DRIFTED, healed" in healed.stdout
    assert tags(applied, BUCKET)["environment"] == "dev"

    again = applied.cli("drift")
    assert again.code == 0, again.output
