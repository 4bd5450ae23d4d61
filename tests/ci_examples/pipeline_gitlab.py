"""A stand-in for GitLab CI, enough to run examples/ci/gitlab-ci.yml with the component it
includes (templates/infra-gitops.yml) as written: the include's `inputs` checked against
the component's `spec:` and interpolated, `extends`, `rules: if:`, global and job
`variables:` (expanded), `id_tokens`, GIT_DEPTH, and before_script + script in one bash
with `-eo pipefail`, as the runner's bash shell runs them.

The include's remote URL is mapped to this checkout's templates/ file (a stand-in for
raw.githubusercontent.com); the job's `image:` is the machine's Python (named stand-in);
the ID token is a dummy JWT (the emulator takes any credentials).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pipeline_expressions import gitlab_expand, gitlab_inputs, gitlab_rule
from pipeline_world import PROJECT, Machine, run_bash

PIPELINE = PROJECT / "examples" / "ci" / "gitlab-ci.yml"
COMPONENT = PROJECT / "templates" / "infra-gitops.yml"
REMOTE = re.compile(
    r"^https://raw\.githubusercontent\.com/infra-gitops/infra-gitops/([^/]+)/templates/infra-gitops\.yml$"
)
JOB_KEYS = frozenset(
    {"extends", "image", "id_tokens", "variables", "before_script", "script", "stage", "rules"}
    | {"artifacts", "resource_group"}
)
DUMMY_JWT = "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL2dpdGxhYi5jb20ifQ.c2lnbmF0dXJl"


@dataclass
class GitLabJob:
    ran: bool
    code: int = 0
    output: str = ""


@dataclass
class GitLabRunner:
    machine: Machine
    origin: Path
    predefined: Mapping[str, str]
    """CI_* variables of the pipeline (CI_COMMIT_SHA, CI_PIPELINE_SOURCE, ...)."""
    project_variables: Mapping[str, str]
    """The project's CI/CD variables (AWS_ROLE_ARN, GITLAB_TOKEN, secrets)."""
    extra_inputs: Mapping[str, str] = field(default_factory=dict)
    """Inputs added to the include (to inject a fault)."""

    def pipeline(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(the root file, the component's jobs with the include's inputs interpolated)."""
        root = yaml.safe_load(PIPELINE.read_text())
        (include,) = root["include"]
        assert REMOTE.match(include["remote"]), include["remote"]
        given = {**include.get("inputs", {}), **self.extra_inputs}
        spec_text, _, body = COMPONENT.read_text().partition("\n---\n")
        spec = yaml.safe_load(spec_text)["spec"]["inputs"]
        unknown = set(given) - set(spec)
        assert not unknown, f"inputs the component does not declare: {sorted(unknown)}"
        inputs: dict[str, str] = {}
        for name, declared in spec.items():
            assert name in given or "default" in declared, f"input {name!r} is required"
            inputs[name] = str(given.get(name, declared.get("default")))
        # GitLab interpolates the loaded YAML's strings, not the file's text.
        return root, _interpolated(yaml.safe_load(body), inputs)

    def run_job(self, name: str) -> GitLabJob:
        root, jobs = self.pipeline()
        job = _extended(jobs, name)
        unknown = set(job) - JOB_KEYS
        assert not unknown, f"job keys the harness does not know: {sorted(unknown)}"
        assert job["stage"] in root["stages"], (job["stage"], root["stages"])
        variables = {
            **self.machine.env(),
            "CI_PROJECT_DIR": str(self.machine.workspace),
            "CI_BUILDS_DIR": str(self.machine.root),
            **self.predefined,
            **self.project_variables,
        }
        if not any(gitlab_rule(rule["if"], variables) for rule in job["rules"]):
            return GitLabJob(ran=False)
        for scope in (root.get("variables", {}), job.get("variables", {})):
            for key, value in scope.items():
                variables[key] = gitlab_expand(str(value), variables)
        for key, token in job.get("id_tokens", {}).items():
            assert token.get("aud"), f"id_tokens {key}: no aud"
            variables[key] = DUMMY_JWT
        self.machine.prepare()
        self.machine.checkout(self.origin, variables["CI_COMMIT_SHA"], int(variables["GIT_DEPTH"]))
        self.machine.setup_python()  # the image's Python
        script = "\n".join([*job.get("before_script", []), *job["script"]])
        done = run_bash(script, variables, self.machine.workspace, name)
        return GitLabJob(ran=True, code=done.code, output=done.output)


def _interpolated(node: Any, inputs: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return gitlab_inputs(node, inputs)
    if isinstance(node, list):
        return [_interpolated(item, inputs) for item in node]
    if isinstance(node, dict):
        return {key: _interpolated(value, inputs) for key, value in node.items()}
    return node


def _extended(jobs: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The job with its `extends:` merged in (hashes deep-merged, the job's own keys win)."""
    job = dict(jobs[name])
    parent = job.pop("extends", None)
    if parent is None:
        return job
    return _merge(_extended(jobs, parent), job)


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged
