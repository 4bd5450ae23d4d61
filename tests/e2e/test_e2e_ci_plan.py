"""`ci plan` on a real pull request branch: only the affected stacks are planned, the
report matches its golden file, the pull request gets one comment (updated on a re-run)
and a commit status, and no secret reaches any of it."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest
from ci_helpers import (
    edit,
    feature_branch,
    github_actions_env,
    normalized,
    standin_api,
    three_stacks,
)
from e2e_helpers import SECRET, Env, git

pytestmark = pytest.mark.e2e

GOLDEN = Path(__file__).resolve().parents[1] / "ci" / "golden"
TOKEN = "ghs_standinToken0123456789abcdef"


@pytest.fixture
def pull_request(e2e: Env) -> tuple[Env, str, str]:
    """Three stacks applied on main; a feature branch changing storage's tags."""
    three_stacks(e2e)
    applied = e2e.cli("apply", "--auto-approve")
    assert applied.code == 0, applied.output
    base = git(e2e.repo, "rev-parse", "HEAD").strip()
    feature_branch(e2e)
    edit(e2e, "stacks/storage/main.tf", '"storage"\n', '"storage"\n    team        = "data"\n')
    head = e2e.commit("Tag storage with its team")
    return e2e, base, head


def test_plans_only_affected_stacks_and_comments_once(
    pull_request: tuple[Env, str, str], tmp_path: Path
) -> None:
    e2e, base, head = pull_request
    report = tmp_path / "report.md"
    with standin_api() as (url, api):
        ci = replace(e2e, env=github_actions_env(e2e, url, base, head, tmp_path, token=TOKEN))
        first = ci.cli("ci", "plan", "--markdown", str(report), "--json")
        assert first.code == 2, first.output
        result = json.loads(first.stdout)["result"]
        # storage changed; app depends on it; logs is untouched and not planned.
        assert [s["stack"] for s in result["stacks"]] == ["storage", "app"]
        assert [s["status"] for s in result["stacks"]] == ["changes", "no-changes"]
        assert result["head"] == head and result["base"] == base

        assert len(api.comments) == 1
        (body,) = api.bodies()
        assert body.startswith("<!-- infra-gitops:plan -->")
        assert body == report.read_text()
        assert (tmp_path / "step-summary.md").read_text() == body
        assert [(sha, s["state"]) for sha, s in api.statuses] == [(head, "success")]
        assert api.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"

        second = ci.cli("ci", "plan", "--markdown", str(report))
        assert second.code == 2, second.output
        # The same comment, edited in place: never a second one.
        assert len(api.comments) == 1
        assert [r.method for r in api.requests].count("POST") == 3  # 1 comment + 2 statuses
        assert [r.method for r in api.requests].count("PATCH") == 1

    _assert_matches_golden(normalized(report.read_text()), "e2e_storage_tags.md")
    for output in (first.output, second.output):
        assert TOKEN not in output and SECRET not in output
    assert SECRET not in body
    for path in e2e.state_dir.rglob("*"):
        if path.is_file() and "sandbox" not in path.parts:
            assert TOKEN.encode() not in path.read_bytes(), path
    _assert_store_is_private_and_clean(e2e.state_dir / "stored-plans" / head)
    runs = json.loads(e2e.cli("history", "--json").stdout)["result"]["runs"]
    assert {r["trigger"] for r in runs if r["kind"] == "plan"} == {"ci"}


def test_without_a_token_no_api_call_and_the_report_is_still_written(
    pull_request: tuple[Env, str, str], tmp_path: Path
) -> None:
    e2e, base, head = pull_request
    with standin_api() as (url, api):
        ci = replace(e2e, env=github_actions_env(e2e, url, base, head, tmp_path, token=None))
        done = ci.cli("ci", "plan", "--markdown", str(tmp_path / "r.md"))
    assert done.code == 2, done.output
    assert api.requests == []
    assert "no API token" in done.stderr
    assert "| `storage` | changes | 0 | 2 | 0 | 0 | 0 |" in (tmp_path / "r.md").read_text()


def _assert_store_is_private_and_clean(sha_dir: Path) -> None:
    files = [p for p in sha_dir.rglob("*") if p.is_file()]
    names = sorted(p.name for p in files)
    # storage has changes: its saved plan is kept; app's (no changes) is not.
    assert names == ["meta.json", "meta.json", "plan.json", "plan.json", "plan.tfplan"]
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        if path.suffix == ".json":
            assert SECRET not in path.read_text(), path


def _assert_matches_golden(text: str, name: str) -> None:
    golden = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(text)
    assert text == golden.read_text(), f"regenerate with UPDATE_GOLDEN=1 if intended: {golden}"
