"""A user's (or a CI runner's) AWS profile and session token never reach the sandbox:
Terraform's state backend on the emulator works when AWS_PROFILE names a profile this
machine lacks, and the emulator only ever sees the dummy keys."""

from __future__ import annotations

from dataclasses import replace

import pytest
from ci_helpers import edit, feature_branch
from e2e_helpers import Env, tags

pytestmark = pytest.mark.e2e


def test_plan_and_apply_on_the_sandbox_ignore_the_users_profile(e2e: Env) -> None:
    env = {
        **e2e.env,
        "AWS_PROFILE": "someone-elses-production",
        "AWS_SESSION_TOKEN": "not-for-the-emulator",
    }
    user = replace(e2e, env=env)

    planned = user.cli("plan", "--stack", "storage")
    assert planned.code == 2, planned.output
    applied = user.cli("apply", "--auto-approve", "--stack", "storage")
    assert applied.code == 0, applied.output
    assert tags(e2e, "demo-dev-artifacts")["stack"] == "storage"

    # The plan store on the sandbox's S3 too.
    e2e.aws("s3").create_bucket(Bucket="plans-of-a-profiled-user")
    feature_branch(e2e)
    edit(e2e, "stacks/storage/main.tf", '"storage"\n', '"storage"\n    team        = "data"\n')
    e2e.commit("Tag storage with its team")
    stored = user.cli("ci", "plan", "--base", "main", "--store", "s3://plans-of-a-profiled-user/pr")
    assert stored.code == 2, stored.output
    listed = e2e.aws("s3").list_objects_v2(Bucket="plans-of-a-profiled-user")["Contents"]
    assert any(o["Key"].endswith("/plan.tfplan") for o in listed)
