"""A stand-in for a GitHub Actions runner, enough to run examples/ci/github-actions.yml and
the repository's composite action (action.yml) as written: the job's `if:`, the
workflow/job/step `env:`, `${{ }}` expressions (pipeline_expressions), `run:` steps in
bash with GITHUB_OUTPUT / GITHUB_ENV / GITHUB_PATH, and the local composite action's
steps with its inputs and outputs.

`uses:` steps other than the local action are replaced by the harness's equivalent,
each a named stand-in: actions/checkout (a git clone at the commit), actions/setup-python
(the machine's Python), aws-actions/configure-aws-credentials (dummy keys for the
emulator, after checking the role and region are given). Any other `uses:`, or a step
key the harness does not know, fails the test.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pipeline_expressions import github_condition, github_known, github_text
from pipeline_world import PROJECT, Machine, run_bash

WORKFLOW = PROJECT / "examples" / "ci" / "github-actions.yml"
ACTION = PROJECT / "action.yml"
LOCAL_ACTION = "infra-gitops/infra-gitops@"
STEP_KEYS = frozenset({"name", "id", "uses", "with", "run", "shell", "env", "working-directory"})


@dataclass(frozen=True)
class Event:
    name: str
    """pull_request or push"""
    payload: dict[str, Any]
    sha: str
    ref: str


@dataclass
class JobRun:
    ran: bool
    code: int = 0
    log: list[str] = field(default_factory=list)
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "\n".join(self.log)


@dataclass
class GitHubRunner:
    machine: Machine
    origin: Path
    api_url: str
    repository: str
    variables: Mapping[str, str]
    secrets: Mapping[str, str]
    token: str
    extra_with: Mapping[str, str] = field(default_factory=dict)
    """Inputs added to the local action's `with:` (to inject a fault)."""
    env: dict[str, str] = field(default_factory=dict)

    def run_job(self, job_name: str, event: Event) -> JobRun:
        workflow = yaml.safe_load(WORKFLOW.read_text())
        job = workflow["jobs"][job_name]
        self.machine.prepare()
        event_path = self.machine.temp / "event.json"
        event_path.write_text(json.dumps(event.payload))
        contexts: dict[str, Any] = {
            "github": self._github_context(event, event_path),
            "vars": dict(self.variables),
            "secrets": dict(self.secrets),
            "runner": {"temp": str(self.machine.temp), "os": "Linux"},
            "env": {},
        }
        for path in (WORKFLOW, ACTION):
            github_known(path.read_text(), contexts)
        if not github_condition(job.get("if"), contexts):
            return JobRun(ran=False)
        self.env = {**self.machine.env(), **self._runner_variables(event, event_path)}
        for scope in (workflow.get("env", {}), job.get("env", {})):
            self._add_env(scope, contexts)
        result = JobRun(ran=True)
        for index, step in enumerate(job["steps"]):
            code = self._step(step, contexts, result, f"step{index}")
            if code != 0:
                result.code = code
                break
        return result

    def _github_context(self, event: Event, event_path: Path) -> dict[str, Any]:
        pull = event.payload.get("pull_request", {})
        return {
            "event_name": event.name,
            "event": event.payload,
            "event_path": str(event_path),
            "sha": event.sha,
            "ref": event.ref,
            "repository": self.repository,
            "workspace": str(self.machine.workspace),
            "token": self.token,
            "api_url": self.api_url,
            "base_ref": pull.get("base", {}).get("ref", ""),
            "head_ref": pull.get("head", {}).get("ref", ""),
        }

    def _runner_variables(self, event: Event, event_path: Path) -> dict[str, str]:
        github = self._github_context(event, event_path)
        return {
            "GITHUB_ACTIONS": "true",
            "GITHUB_EVENT_NAME": event.name,
            "GITHUB_EVENT_PATH": str(event_path),
            "GITHUB_SHA": event.sha,
            "GITHUB_REF": event.ref,
            "GITHUB_BASE_REF": github["base_ref"],
            "GITHUB_HEAD_REF": github["head_ref"],
            "GITHUB_REPOSITORY": self.repository,
            "GITHUB_WORKSPACE": str(self.machine.workspace),
            "GITHUB_API_URL": self.api_url,
            "GITHUB_STEP_SUMMARY": str(self.machine.temp / "step-summary.md"),
            "RUNNER_TEMP": str(self.machine.temp),
            "RUNNER_OS": "Linux",
        }

    def _add_env(self, scope: Mapping[str, Any], contexts: dict[str, Any]) -> None:
        for name, value in scope.items():
            self.env[name] = github_text(str(value), contexts)
            contexts["env"][name] = self.env[name]

    def _step(
        self, step: Mapping[str, Any], contexts: dict[str, Any], job: JobRun, key: str
    ) -> int:
        unknown = set(step) - STEP_KEYS
        assert not unknown, f"step keys the harness does not know: {sorted(unknown)}"
        inputs = {k: github_text(str(v), contexts) for k, v in step.get("with", {}).items()}
        uses = step.get("uses")
        if uses is None:
            return self._run(step, contexts, job, key)
        if uses.startswith(LOCAL_ACTION):
            return self._composite(step, {**inputs, **self.extra_with}, contexts, job)
        return self._standin(uses, inputs, contexts)

    def _run(self, step: Mapping[str, Any], contexts: dict[str, Any], job: JobRun, key: str) -> int:
        assert step.get("shell", "bash") == "bash", step
        step_env = dict(self.env)
        for name, value in step.get("env", {}).items():
            step_env[name] = github_text(str(value), {**contexts, "env": dict(contexts["env"])})
        files = {n: self.machine.temp / f"{key}.{n}" for n in ("output", "env", "path")}
        for name, path in files.items():
            path.write_text("")
            step_env[f"GITHUB_{name.upper()}"] = str(path)
        cwd = self.machine.workspace
        if "working-directory" in step:
            cwd = cwd / github_text(step["working-directory"], contexts)
        done = run_bash(github_text(step["run"], contexts), step_env, cwd, key)
        title = github_text(step.get("name", key), contexts)
        job.log.append(f"--- {title} (exit {done.code})\n{done.output}")
        if "id" in step:
            job.outputs[step["id"]] = _key_values(files["output"].read_text())
            contexts.setdefault("steps", {})[step["id"]] = {"outputs": job.outputs[step["id"]]}
        for name, value in _key_values(files["env"].read_text()).items():
            self.env[name] = contexts["env"][name] = value
        for line in files["path"].read_text().splitlines():
            self.env["PATH"] = f"{line}:{self.env['PATH']}"
        return done.code

    def _composite(
        self, step: Mapping[str, Any], given: dict[str, str], outer: dict[str, Any], job: JobRun
    ) -> int:
        action = yaml.safe_load(ACTION.read_text())
        assert action["runs"]["using"] == "composite"
        inputs: dict[str, str] = {}
        for name, spec in action["inputs"].items():
            if name in given:
                inputs[name] = given[name]
            else:
                assert not spec.get("required"), f"the action's input {name!r} is required"
                inputs[name] = github_text(str(spec.get("default", "")), outer)
        unknown = set(given) - set(action["inputs"])
        assert not unknown, f"inputs the action does not declare: {sorted(unknown)}"
        contexts = {**outer, "inputs": inputs, "steps": {}}
        inner = JobRun(ran=True)
        for index, inner_step in enumerate(action["runs"]["steps"]):
            inner.code = self._step(inner_step, contexts, inner, f"action{index}")
            if inner.code != 0:
                break
        job.log.extend(inner.log)
        job.outputs.update({f"action.{k}": v for k, v in inner.outputs.items()})
        if "id" in step and inner.code == 0:
            outputs = {k: github_text(v["value"], contexts) for k, v in action["outputs"].items()}
            job.outputs[step["id"]] = outputs
        return inner.code

    def _standin(self, uses: str, inputs: Mapping[str, str], contexts: dict[str, Any]) -> int:
        name = uses.split("@")[0]
        if name == "actions/checkout":
            depth = int(inputs.get("fetch-depth", "1"))
            self.machine.checkout(
                self.origin, inputs.get("ref") or contexts["github"]["sha"], depth
            )
        elif name == "actions/setup-python":
            assert inputs.get("python-version"), "setup-python without a python-version"
            self.machine.setup_python()
        elif name == "aws-actions/configure-aws-credentials":
            assert inputs.get("role-to-assume"), "configure-aws-credentials: no role-to-assume"
            assert inputs.get("aws-region"), "configure-aws-credentials: no aws-region"
            keys = {
                "AWS_ACCESS_KEY_ID": "test",
                "AWS_SECRET_ACCESS_KEY": "test",
                "AWS_SESSION_TOKEN": "test",
                "AWS_REGION": inputs["aws-region"],
                "AWS_DEFAULT_REGION": inputs["aws-region"],
            }
            self.env.update(keys)
            contexts["env"].update(keys)
        else:
            raise AssertionError(f"`uses: {uses}`: no stand-in for this action in the harness")
        return 0


def _key_values(text: str) -> dict[str, str]:
    """GITHUB_OUTPUT / GITHUB_ENV lines: NAME=value, or NAME<<DELIMITER ... DELIMITER."""
    found: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            body = []
            for item in lines:
                if item == delimiter:
                    break
                body.append(item)
            found[name] = "\n".join(body)
        elif "=" in line:
            name, value = line.split("=", 1)
            found[name] = value
    return found
