"""`infra-gitops promote`: an environment's pin moved to what another has applied, as a
commit; refused while the source is no safe witness or the order is skipped. On the local
cloud with real Git, the embedded Terraform and the records of real runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ci_helpers import standin_api
from e2e_helpers import Env, git
from test_e2e_pins import MODULE, STACK

pytestmark = pytest.mark.e2e

SOAK = "    promotion: {order: [dev, staging, prod]}\n"


def _manifest(staging: str, prod: str, promotion: str = SOAK) -> str:
    return (
        "version: 1\nstacks:\n  - name: data\n    path: stacks/data\n"
        + promotion
        + "    environments:\n"
        "      - name: dev\n        variables: {env: dev}\n"
        "      - name: staging\n        variables: {env: staging}\n"
        f'        revision: "{staging}"\n'
        "      - name: prod\n        variables: {env: prod}  # the customers' one\n"
        f'        revision: "{prod}"\n'
    )


def _layout(e2e: Env, tier: str) -> None:
    (e2e.repo / "modules" / "labels").mkdir(parents=True, exist_ok=True)
    (e2e.repo / "modules" / "labels" / "main.tf").write_text(MODULE.replace("TIER", tier))
    (e2e.repo / "stacks" / "data").mkdir(parents=True, exist_ok=True)
    (e2e.repo / "stacks" / "data" / "main.tf").write_text(STACK)


def _tiers(e2e: Env) -> list[str]:
    s3 = e2e.aws("s3")
    return [
        {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=f"pins-{env}-data")["TagSet"]}[
            "tier"
        ]
        for env in ("dev", "staging", "prod")
    ]


def _promote(e2e: Env, source: str, target: str) -> tuple[int, str]:
    done = e2e.cli("promote", "data", "--from", source, "--to", target)
    return done.code, done.output


def test_promotion_moves_a_pin_by_commit_and_refuses_what_is_unsafe(e2e: Env) -> None:
    _layout(e2e, "gold")
    (e2e.repo / "gitops.yaml").write_text("version: 1\nstacks: []\n")
    gold = e2e.commit("The data stack and its labels module")
    (e2e.repo / "gitops.yaml").write_text(_manifest(gold, gold))
    e2e.commit("data in dev, staging and prod at gold")
    assert e2e.cli("apply", "--auto-approve").code == 0
    _layout(e2e, "platinum")
    platinum = e2e.commit("labels: platinum tier")
    assert e2e.cli("apply", "--auto-approve").code == 0
    assert _tiers(e2e) == ["platinum", "gold", "gold"]

    code, output = _promote(e2e, "dev", "prod")
    assert code == 1
    assert "it skips staging" in output and "nothing changed" in output
    assert git(e2e.repo, "rev-parse", "HEAD").strip() == platinum

    code, output = _promote(e2e, "dev", "staging")
    assert code == 0, output
    head = git(e2e.repo, "rev-parse", "HEAD").strip()
    assert head != platinum
    message = git(e2e.repo, "log", "-1", "--format=%B")
    assert message.startswith("Promote data from dev to staging")
    assert f"Infra-Gitops-Promote: data@dev -> data@staging {platinum}" in message
    # One line of gitops.yaml changed; its comment and layout kept.
    assert (e2e.repo / "gitops.yaml").read_text() == _manifest(platinum, gold)
    assert git(e2e.repo, "show", "--stat", "--format=", "HEAD").count("|") == 1
    assert e2e.cli("apply", "--auto-approve").code == 0
    assert _tiers(e2e) == ["platinum", "platinum", "gold"]
    history = json.loads(e2e.cli("history", "--stack", "data@staging", "--json").stdout)
    assert history["result"]["runs"][0]["commit"]["sha"] == head  # the record names it

    shown = json.loads(e2e.cli("status", "--json").stdout)["result"]["environments"]
    by_env = {e["environment"]: e for e in shown}
    assert [e["instance"] for e in shown] == ["data@dev", "data@staging", "data@prod"]
    assert by_env["dev"]["pinned"] is None and by_env["dev"]["runs"] == platinum
    assert (by_env["staging"]["pinned"], by_env["staging"]["runs"]) == (platinum, platinum)
    assert by_env["staging"]["waiting"] is None
    assert by_env["prod"]["waiting"] == f"data@staging runs {platinum[:10]}"
    table = e2e.cli("status").stdout
    assert "WAITING TO BE PROMOTED" in table and f"data@staging runs {platinum[:10]}" in table

    code, output = _promote(e2e, "dev", "staging")
    assert (code, "already" in output) == (0, True)

    e2e.aws("s3").put_bucket_tagging(
        Bucket="pins-staging-data", Tagging={"TagSet": [{"Key": "tier", "Value": "by-hand"}]}
    )
    assert e2e.cli("drift", "--stack", "data@staging").code == 2
    code, output = _promote(e2e, "staging", "prod")
    assert code == 1
    assert "data@staging is Drifted" in output, output
    assert git(e2e.repo, "rev-parse", "HEAD").strip() == head

    assert e2e.cli("drift", "--stack", "data@staging", "--heal").code == 2
    code, output = _promote(e2e, "staging", "prod")
    assert code == 0, output
    assert e2e.cli("apply", "--auto-approve").code == 0
    assert _tiers(e2e) == ["platinum", "platinum", "platinum"]


def test_soak_time_and_targets_that_follow_the_branch_are_refused(e2e: Env) -> None:
    _layout(e2e, "gold")
    (e2e.repo / "gitops.yaml").write_text("version: 1\nstacks: []\n")
    gold = e2e.commit("The data stack")
    soak = "    promotion: {order: [dev, staging, prod], soak: 1h}\n"
    (e2e.repo / "gitops.yaml").write_text(_manifest(gold, gold, soak))
    e2e.commit("data everywhere, with a soak time")
    assert e2e.cli("apply", "--auto-approve").code == 0
    code, output = _promote(e2e, "dev", "staging")
    assert code == 1
    assert "promotion.soak is 1h: wait" in output, output

    code, output = _promote(e2e, "staging", "dev")
    assert code == 1 and "comes after dev" in output
    (e2e.repo / "gitops.yaml").write_text(_manifest(gold, gold, ""))
    e2e.commit("no promotion order")
    code, output = _promote(e2e, "staging", "dev")
    assert code == 1 and "data@dev follows the branch" in output, output
    code, output = _promote(e2e, "staging", "qa")
    assert code == 1 and "has no environment 'qa'" in output


TOKEN = "ghp_promote-standin-token-7c1e"


def test_a_promotion_can_be_a_pull_request(e2e: Env, tmp_path: Path) -> None:
    """Through the stand-in GitHub API (GitHub cannot be reached from here)."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "--initial-branch=main", str(remote))
    git(e2e.repo, "remote", "add", "origin", str(remote))
    _layout(e2e, "gold")
    (e2e.repo / "gitops.yaml").write_text("version: 1\nstacks: []\n")
    gold = e2e.commit("The data stack")
    (e2e.repo / "gitops.yaml").write_text(_manifest(gold, gold))
    e2e.commit("data everywhere at gold")
    _layout(e2e, "platinum")
    platinum = e2e.commit("labels: platinum tier")
    git(e2e.repo, "push", "-q", "origin", "main")
    assert e2e.cli("apply", "--auto-approve", "--stack", "data@dev").code == 0
    before = (e2e.repo / "gitops.yaml").read_text()

    with standin_api() as (url, state):
        e2e.env["GITHUB_TOKEN"] = TOKEN
        done = e2e.cli(
            "promote",
            "data",
            "--from",
            "dev",
            "--to",
            "staging",
            "--pull-request",
            "github:acme/infra",
            "--api-url",
            url,
            "--json",
        )
    assert done.code == 0, done.output
    assert TOKEN not in done.output
    result = json.loads(done.stdout)["result"]
    branch = f"promote/data-staging-{platinum[:10]}"
    assert (result["pushed_to"], result["pull_request"]) == (
        branch,
        "https://git.example/acme/pull/1",
    )
    (pull,) = state.pulls
    assert (pull["head"], pull["base"]) == (branch, "main")
    assert pull["title"] == "Promote data from dev to staging"
    assert f"Infra-Gitops-Promote: data@dev -> data@staging {platinum}" in pull["body"]
    assert state.requests[-1].headers["Authorization"] == f"Bearer {TOKEN}"
    # The branch on the remote pins staging; the checkout is left as it was.
    assert git(remote, "show", f"{branch}:gitops.yaml") == _manifest(platinum, gold)
    assert git(e2e.repo, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"
    assert git(e2e.repo, "rev-parse", "HEAD").strip() == platinum
    assert (e2e.repo / "gitops.yaml").read_text() == before

    del e2e.env["GITHUB_TOKEN"]
    missing = e2e.cli(
        "promote", "data", "--from", "dev", "--to", "prod", "--pull-request", "github:acme/infra"
    )
    assert missing.code == 1 and "set GITHUB_TOKEN" in missing.output


def test_a_pin_on_a_matrix_value_is_not_edited(e2e: Env) -> None:
    _layout(e2e, "gold")
    (e2e.repo / "gitops.yaml").write_text("version: 1\nstacks: []\n")
    gold = e2e.commit("The data stack")
    (e2e.repo / "gitops.yaml").write_text(
        "version: 1\nstacks:\n  - name: data\n    path: stacks/data\n"
        "    environments:\n      matrix:\n"
        f'        stage: [dev, {{name: prod, revision: "{gold}"}}]\n'
        "        region: [use1, euw1]\n"
    )
    e2e.commit("data as a matrix")
    expanded = json.loads(e2e.cli("validate", "--expand", "--json").stdout)["result"]["stacks"]
    assert {s["name"]: s["revision"] for s in expanded} == {
        "data@dev-use1": None,
        "data@dev-euw1": None,
        "data@prod-use1": gold,
        "data@prod-euw1": gold,
    }
    code, output = _promote(e2e, "dev-euw1", "prod-euw1")
    assert code == 1 and "one combination of a matrix" in output, output
