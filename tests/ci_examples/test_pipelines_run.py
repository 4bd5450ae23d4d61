"""The example pipelines run as written, end to end, against one cloud that outlives the
jobs: the pull request's job plans and stores the plan in S3 under the head SHA and
comments; after the merge, the main branch's job applies exactly that plan; a usage
error fails the plan job; a second run of the merge job applies nothing again and says so.

GitHub Actions: examples/ci/github-actions.yml with the repository's action.yml.
GitLab CI: examples/ci/gitlab-ci.yml with the component templates/infra-gitops.yml.
The runners are stand-ins (pipeline_github, pipeline_gitlab); every shell step, the pip
install from the pinned Git ref and the `infra-gitops` command are real.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from ci_standin import StandinState
from conftest import PINNED, SECRET, Infra
from pipeline_github import WORKFLOW, Event, GitHubRunner
from pipeline_gitlab import DUMMY_JWT, GitLabRunner
from pipeline_world import run_git

pytestmark = pytest.mark.e2e

PLAN_BUCKET = "ci-examples-plans"
TEAM_TAG = ('"storage"\n', '"storage"\n    team        = "data"\n')
MARKER = "<!-- infra-gitops:plan -->"
PR = 7


def _feature(infra: Infra) -> tuple[str, str]:
    """(main's SHA, the head SHA of a pushed branch that tags storage with its team)."""
    base = run_git(infra.dev, "rev-parse", "HEAD")
    run_git(infra.dev, "checkout", "-q", "-b", "feature")
    path = infra.dev / "stacks" / "storage" / "main.tf"
    text = path.read_text()
    assert TEAM_TAG[0] in text
    path.write_text(text.replace(*TEAM_TAG))
    return base, infra.commit_and_push("Tag storage with its team", "feature")


def _pull_request(infra: Infra) -> tuple[Event, str]:
    """(the pull_request event of the feature branch, its head SHA). As on GitHub,
    GITHUB_SHA is the test merge commit (refs/pull/N/merge), not the head."""
    base, head = _feature(infra)
    pull = {
        "number": PR,
        "base": {"sha": base, "ref": "main"},
        "head": {"sha": head, "ref": "feature"},
    }
    merge_ref = f"refs/pull/{PR}/merge"
    return Event(
        "pull_request", {"pull_request": pull}, infra.test_merge("feature", PR), merge_ref
    ), head


def _bucket_tags(infra: Infra) -> dict[str, str]:
    s3: Any = infra.s3()
    tag_set = s3.get_bucket_tagging(Bucket="demo-dev-artifacts")["TagSet"]
    return {t["Key"]: t["Value"] for t in tag_set}


def _stored_keys(infra: Infra, bucket: str, prefix: str) -> list[str]:
    s3: Any = infra.s3()
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return [o["Key"] for o in listed.get("Contents", [])]


def _github(infra: Infra, api: tuple[str, StandinState], name: str, **kw: Any) -> GitHubRunner:
    return GitHubRunner(
        machine=infra.machine(name),
        origin=infra.origin,
        api_url=api[0],
        repository="acme/infra",
        variables={
            "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/infra-gitops",
            "AWS_REGION": "us-east-1",
            "INFRA_GITOPS_PLAN_STORE": f"s3://{PLAN_BUCKET}/plans",
        },
        secrets={"DEMO_DB_PASSWORD": SECRET},
        token="ghs_standinJobToken",
        **kw,
    )


def test_github_actions_plan_on_the_pull_request_then_apply_after_the_merge(
    infra: Infra, api: tuple[str, StandinState]
) -> None:
    s3: Any = infra.s3()
    s3.create_bucket(Bucket=PLAN_BUCKET)
    opened, head = _pull_request(infra)

    assert not _github(infra, api, "gh-apply-on-pr").run_job("apply", opened).ran
    planner = _github(infra, api, "gh-plan")
    plan = planner.run_job("plan", opened)
    assert plan.ran and plan.code == 0, plan.text
    # Installed by the pipeline's pip from the pinned Git ref, into the job's Python.
    assert (planner.machine.python_bin / "infra-gitops").is_file()
    assert plan.outputs["action.run"]["exit-code"] == "2"  # changes: a success
    keys = _stored_keys(infra, PLAN_BUCKET, f"plans/{head}/storage/")
    assert any(k.endswith("/plan.tfplan") for k in keys), keys
    bodies = api[1].bodies()
    assert len(bodies) == 1 and bodies[0].startswith(MARKER)
    assert "storage" in bodies[0]
    assert api[1].statuses[-1][0] == head
    assert api[1].statuses[-1][1]["state"] == "success"
    assert "storage" in (planner.machine.temp / "step-summary.md").read_text()
    for secret in (SECRET, "ghs_standinJobToken"):
        assert secret not in plan.text
    assert "team" not in _bucket_tags(infra)  # planned, not applied

    merge = infra.merge("feature")
    pushed = Event("push", {"head_commit": {"id": merge}, "after": merge}, merge, "refs/heads/main")
    assert not _github(infra, api, "gh-plan-on-push").run_job("plan", pushed).ran
    apply = _github(infra, api, "gh-apply").run_job("apply", pushed)
    assert apply.ran and apply.code == 0, apply.text
    assert _bucket_tags(infra)["team"] == "data"

    # A re-run of the merge job: the plan was applied once; it says so, nothing reapplied.
    again = _github(infra, api, "gh-apply-again").run_job("apply", pushed)
    assert again.code == 0, again.text
    assert "was applied already" in again.text
    assert "Summary: 1 applied" not in again.text
    assert _bucket_tags(infra)["team"] == "data"


def test_github_actions_plan_job_fails_on_a_usage_error(
    infra: Infra, api: tuple[str, StandinState]
) -> None:
    opened, _ = _pull_request(infra)
    typo = _github(infra, api, "gh-typo", extra_with={"args": "--typo"})

    plan = typo.run_job("plan", opened)

    assert plan.code == 1, plan.text
    assert "--typo" in plan.text
    assert plan.outputs["action.run"]["exit-code"] == "1"
    assert api[1].bodies() == []


def _gitlab(infra: Infra, api: tuple[str, StandinState], name: str, **kw: Any) -> GitLabRunner:
    predefined = kw.pop("predefined")
    return GitLabRunner(
        machine=infra.machine(name),
        origin=infra.origin,
        predefined={
            "GITLAB_CI": "true",
            "CI_PROJECT_ID": "42",
            "CI_JOB_ID": "1001",
            "CI_DEFAULT_BRANCH": "main",
            "CI_API_V4_URL": f"{api[0]}/api/v4",
            **predefined,
        },
        project_variables={
            "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/infra-gitops",
            "AWS_REGION": "us-east-1",
            "GITLAB_TOKEN": "glpat-standinToken",
            "DEMO_DB_PASSWORD": SECRET,
        },
        **kw,
    )


def _gitlab_plan_store() -> tuple[str, str]:
    """(bucket, prefix) of the plan store the GitLab example's include names."""
    root = yaml.safe_load((WORKFLOW.parent / "gitlab-ci.yml").read_text())
    url = root["include"][0]["inputs"]["plan-store"]
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    return bucket, prefix


def _merge_request(base: str, head: str) -> dict[str, str]:
    return {
        "CI_PIPELINE_SOURCE": "merge_request_event",
        "CI_COMMIT_SHA": head,
        "CI_COMMIT_REF_NAME": "feature",
        "CI_MERGE_REQUEST_IID": str(PR),
        "CI_MERGE_REQUEST_DIFF_BASE_SHA": base,
        "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main",
    }


def test_gitlab_ci_plan_on_the_merge_request_then_apply_after_the_merge(
    infra: Infra, api: tuple[str, StandinState]
) -> None:
    bucket, prefix = _gitlab_plan_store()
    s3: Any = infra.s3()
    s3.create_bucket(Bucket=bucket)
    base, head = _feature(infra)
    mr = _merge_request(base, head)

    assert (
        not _gitlab(infra, api, "gl-apply-on-mr", predefined=mr).run_job("infra-gitops-apply").ran
    )
    plan = _gitlab(infra, api, "gl-plan", predefined=mr).run_job("infra-gitops-plan")
    assert plan.ran and plan.code == 0, plan.output
    keys = _stored_keys(infra, bucket, f"{prefix}/{head}/storage/")
    assert any(k.endswith("/plan.tfplan") for k in keys), keys
    assert (infra.tmp / "gl-plan" / "workspace" / "plan.md").read_text().startswith(MARKER)
    bodies = api[1].bodies()
    assert len(bodies) == 1 and bodies[0].startswith(MARKER)
    assert api[1].statuses[-1][0] == head
    for secret in (SECRET, "glpat-standinToken", DUMMY_JWT):
        assert secret not in plan.output
    assert "team" not in _bucket_tags(infra)

    merge = infra.merge("feature")
    pushed = {"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_SHA": merge, "CI_COMMIT_BRANCH": "main"}
    assert (
        not _gitlab(infra, api, "gl-plan-on-push", predefined=pushed)
        .run_job("infra-gitops-plan")
        .ran
    )
    apply = _gitlab(infra, api, "gl-apply", predefined=pushed).run_job("infra-gitops-apply")
    assert apply.ran and apply.code == 0, apply.output
    assert _bucket_tags(infra)["team"] == "data"

    again = _gitlab(infra, api, "gl-apply-again", predefined=pushed).run_job("infra-gitops-apply")
    assert again.code == 0, again.output
    assert "was applied already" in again.output
    assert _bucket_tags(infra)["team"] == "data"


def test_gitlab_ci_plan_job_fails_on_a_usage_error(
    infra: Infra, api: tuple[str, StandinState]
) -> None:
    base, head = _feature(infra)
    runner = _gitlab(
        infra,
        api,
        "gl-typo",
        predefined=_merge_request(base, head),
        extra_inputs={"args": "--typo"},
    )

    plan = runner.run_job("infra-gitops-plan")

    assert plan.code == 1, plan.output
    assert "--typo" in plan.output
    assert api[1].bodies() == []


def test_every_example_pins_the_same_infra_gitops_ref() -> None:
    # The harness serves this checkout under PINNED; an example pinning another ref would
    # install something else than what is tested.
    workflow = WORKFLOW.read_text()
    gitlab = (WORKFLOW.parent / "gitlab-ci.yml").read_text()
    assert workflow.count(f"infra-gitops/infra-gitops@{PINNED}") == 2
    assert workflow.count(f"version: {PINNED}") == 2
    assert f"/infra-gitops/{PINNED}/templates/" in gitlab
    assert f"version: {PINNED}" in gitlab
