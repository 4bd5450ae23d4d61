"""`apply --from-plan` after the merge: exactly the reviewed plan is applied, from local
disk or S3, and a plan whose stack code or state moved since is refused, saying why."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from ci_helpers import edit, feature_branch, three_stacks
from e2e_helpers import Env, git, tags

pytestmark = pytest.mark.e2e

TEAM_TAG = ('"storage"\n', '"storage"\n    team        = "data"\n')


@pytest.fixture
def planned(e2e: Env) -> tuple[Env, str]:
    """Main applied; a feature branch tagging storage, planned by `ci plan` into S3."""
    three_stacks(e2e)
    assert e2e.cli("apply", "--auto-approve").code == 0
    e2e.aws("s3").create_bucket(Bucket="plans")
    feature_branch(e2e)
    edit(e2e, "stacks/storage/main.tf", *TEAM_TAG)
    head = e2e.commit("Tag storage with its team")
    done = e2e.cli("ci", "plan", "--base", "main", "--store", "s3://plans/pr")
    assert done.code == 2, done.output
    git(e2e.repo, "checkout", "-q", "main")
    return e2e, head


def _merge(e2e: Env) -> None:
    git(
        e2e.repo,
        "-c",
        "user.name=M",
        "-c",
        "user.email=m@example.com",
        "merge",
        "-q",
        "--no-ff",
        "-m",
        "Merge feature",
        "feature",
    )


def test_applies_exactly_the_stored_plan_after_the_merge(planned: tuple[Env, str]) -> None:
    e2e, head = planned
    keys = [o["Key"] for o in e2e.aws("s3").list_objects_v2(Bucket="plans")["Contents"]]
    assert any(k.startswith(f"pr/{head}/storage/") and k.endswith("/plan.tfplan") for k in keys)
    for key in keys:
        meta = e2e.aws("s3").head_object(Bucket="plans", Key=key)
        assert meta["ServerSideEncryption"] == "AES256", key
    _merge(e2e)

    done = e2e.cli("apply", "--from-plan", "--store", "s3://plans/pr", "--json")
    assert done.code == 0, done.output
    stacks = {s["stack"]: s for s in json.loads(done.stdout)["result"]["stacks"]}
    assert stacks["storage"]["status"] == "applied"
    assert stacks["app"]["status"] == "no-changes"
    assert "logs" not in stacks
    assert tags(e2e, bucket_name_of(e2e, "demo-dev-artifacts"))["team"] == "data"
    # A saved plan applies once: its file is gone, and a re-run of the merge job says
    # it was done (exit 0: a re-run after another stack's failure can go green).
    keys = [o["Key"] for o in e2e.aws("s3").list_objects_v2(Bucket="plans")["Contents"]]
    assert not any(k.startswith(f"pr/{head}/storage/") and k.endswith(".tfplan") for k in keys)
    assert any(k.startswith(f"pr/{head}/storage/") and k.endswith("/applied.json") for k in keys)
    again = e2e.cli("apply", "--from-plan", "--store", "s3://plans/pr", "--json")
    assert again.code == 0, again.output
    stacks = {s["stack"]: s for s in json.loads(again.stdout)["result"]["stacks"]}
    assert stacks["storage"]["status"] == "no-changes"
    assert stacks["storage"]["run_id"] is None  # nothing ran
    assert (
        f"the plan stored for commit {head[:10]} was applied already" in stacks["storage"]["note"]
    )


def _squash(e2e: Env) -> None:
    git(e2e.repo, "merge", "-q", "--squash", "feature")
    e2e.commit("Tag storage with its team (#1)")


def test_finds_the_plan_of_a_squash_merged_branch_by_its_files(planned: tuple[Env, str]) -> None:
    e2e, head = planned
    _squash(e2e)
    assert git(e2e.repo, "rev-parse", "HEAD").strip() != head  # a new commit, the same files

    done = e2e.cli("apply", "--from-plan", "--store", "s3://plans/pr")
    assert done.code == 0, done.output
    assert f"applying the plans stored for commit {head[:10]}" in done.stderr
    assert tags(e2e, bucket_name_of(e2e, "demo-dev-artifacts"))["team"] == "data"


def test_a_squash_of_a_branch_behind_its_target_finds_no_plan(planned: tuple[Env, str]) -> None:
    e2e, _ = planned
    (e2e.repo / "NOTES.md").write_text("meanwhile on main\n")
    e2e.commit("Meanwhile on main: notes")
    _squash(e2e)

    done = e2e.cli("apply", "--from-plan", "--store", "s3://plans/pr")
    assert done.code == 1, done.output
    assert "nor for a planned commit with the same files" in done.stderr
    assert "team" not in tags(e2e, bucket_name_of(e2e, "demo-dev-artifacts"))


def test_refuses_when_the_stack_code_moved_since_the_plan(planned: tuple[Env, str]) -> None:
    e2e, head = planned
    edit(
        e2e,
        "stacks/storage/main.tf",
        "visibility_timeout_seconds = 60",
        "visibility_timeout_seconds = 90",
    )
    e2e.commit("Meanwhile on main: a longer visibility timeout")
    _merge(e2e)
    done = e2e.cli("apply", "--from-plan", "--store", "s3://plans/pr", "--sha", head)
    assert done.code == 1, done.output
    assert "refused: the code of storage changed since its plan was made" in done.stdout
    assert "team" not in tags(e2e, bucket_name_of(e2e, "demo-dev-artifacts"))


def test_refuses_when_the_state_moved_since_the_plan(planned: tuple[Env, str]) -> None:
    e2e, _ = planned
    _merge(e2e)
    # Someone applies the merged code the ordinary way first: storage's state moves on.
    moved = e2e.cli("apply", "--auto-approve", "--stack", "storage")
    assert moved.code == 0, moved.output
    done = e2e.cli("apply", "--from-plan", "--store", "s3://plans/pr")
    assert done.code == 1, done.output
    assert "refused: the state of storage changed since its plan was made" in done.stdout


def test_refuses_a_commit_with_no_stored_plan(e2e: Env, tmp_path: Path) -> None:
    done = replace(e2e).cli("apply", "--from-plan", "--store", str(tmp_path / "empty"))
    assert done.code == 1
    assert "no stored plan for commit" in done.stderr
    assert "run `infra-gitops ci plan` on the pull request first" in done.stderr


def bucket_name_of(e2e: Env, name: str) -> str:
    names = [b["Name"] for b in e2e.aws("s3").list_buckets()["Buckets"]]
    assert name in names, names
    return name
