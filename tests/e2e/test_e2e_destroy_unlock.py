"""`destroy` and `unlock` end to end: the real CLI, the embedded Terraform, the sandbox.

What a user checks: the cloud (boto3), the exit code, the run records; a confirmation
typed on a real terminal (a pty).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import replace

from e2e_helpers import PROJECT, CliResult, Env, cli_argv

QUEUE_NAME = "demo-dev-jobs"
PARAMETERS = {"/demo/dev/queue_url", "/demo/dev/db_password"}


def _parameters(e2e: Env) -> set[str]:
    return {p["Name"] for p in e2e.aws("ssm").describe_parameters()["Parameters"]}


def _buckets(e2e: Env) -> set[str]:
    names = {b["Name"] for b in e2e.aws("s3").list_buckets()["Buckets"]}
    return names - {e2e.cloud.state_bucket}


def _queues(e2e: Env) -> list[str]:
    return e2e.aws("sqs").list_queues().get("QueueUrls", [])


def _runs(e2e: Env) -> list[dict]:
    history = e2e.cli("history", "--json", "--limit", "50")
    assert history.code == 0, history.output
    return list(json.loads(history.stdout)["result"]["runs"])


def _destroys(e2e: Env) -> list[dict]:
    """The destroy runs, oldest first."""
    return [r for r in reversed(_runs(e2e)) if r["kind"] == "destroy"]


def _cli(e2e: Env, *args: str, answer: str | None = None) -> CliResult:
    """The CLI with standard input a terminal that gets `answer` typed (answer given),
    or not a terminal at all (/dev/null)."""
    argv = [*cli_argv(), *args, "--repo", str(e2e.repo), "--state-dir", str(e2e.state_dir)]
    if answer is None:
        done = subprocess.run(
            argv,
            env=e2e.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        return CliResult(done.returncode, done.stdout, done.stderr)
    terminal, stdin = os.openpty()
    try:
        proc = subprocess.Popen(
            argv,
            env=e2e.env,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        os.close(stdin)
        # Typed ahead: the terminal keeps the line until the command reads it.
        os.write(terminal, f"{answer}\n".encode())
        stdout, stderr = proc.communicate(timeout=240)
    finally:
        os.close(terminal)
    return CliResult(proc.returncode, stdout, stderr)


def test_destroy_refuses_a_stack_deployed_stacks_depend_on_then_destroys_both_when_named(
    applied: Env,
) -> None:
    e2e = replace(applied, env={**applied.env, "INFRA_GITOPS_ACTOR": "dana"})
    refused = _cli(e2e, "destroy", "--stack", "storage", "--auto-approve")
    assert refused.code == 1, refused.output
    assert "app" in refused.stderr and "storage" in refused.stderr
    assert len(_buckets(e2e)) == 1 and _queues(e2e)
    assert _destroys(e2e) == []

    done = _cli(e2e, "destroy", "--stack", "storage", "--stack", "app", "--auto-approve")
    assert done.code == 0, done.output
    assert _buckets(e2e) == set()
    assert _queues(e2e) == []
    assert _parameters(e2e) == set()
    # Dependent first, each recorded with who ran it.
    assert [(r["stack"], r["status"], r["trigger"], r["actor"]) for r in _destroys(e2e)] == [
        ("app", "applied", "cli", "dana"),
        ("storage", "applied", "cli", "dana"),
    ]
    # auto_apply is on in the example manifest: a daemon would create them again.
    assert "auto_apply" in done.stderr
    # The next plan sees nothing deployed: everything is to be created again.
    assert e2e.cli("plan", "--stack", "storage").code == 2


def test_destroy_without_a_terminal_needs_auto_approve_and_destroys_nothing(
    applied: Env,
) -> None:
    result = _cli(applied, "destroy", "--stack", "app")
    assert result.code == 1, result.output
    assert "--auto-approve" in result.stderr
    assert _parameters(applied) == PARAMETERS
    assert _destroys(applied) == []


def test_destroy_on_a_terminal_wants_the_stack_name_typed_back(applied: Env) -> None:
    wrong = _cli(applied, "destroy", "--stack", "app", answer="yes")
    assert wrong.code == 1, wrong.output
    assert _parameters(applied) == PARAMETERS
    assert _destroys(applied) == []

    typed = _cli(applied, "destroy", "--stack", "app", answer="app")
    assert typed.code == 0, typed.output
    assert _parameters(applied) == set()
    assert len(_buckets(applied)) == 1  # storage was not named: still there
    assert [r["stack"] for r in _destroys(applied)] == ["app"]
    assert "app: destroyed" in typed.stdout


def test_destroy_is_refused_while_a_sync_window_denies_applies(e2e: Env) -> None:
    manifest = e2e.repo / "gitops.yaml"
    manifest.write_text(
        manifest.read_text()
        + 'sync_windows:\n  - kind: deny\n    schedule: "* * * * *"\n'
        + "    duration: 2h\n    stacks: [app]\n"
    )
    e2e.commit("Freeze app")
    result = _cli(e2e, "destroy", "--stack", "app", "--auto-approve")
    assert result.code == 1, result.output
    assert "sync window" in result.stderr and "* * * * *" in result.stderr
    assert _runs(e2e) == []  # no engine ran, nothing recorded


def test_destroy_requires_naming_the_stacks(e2e: Env) -> None:
    result = _cli(e2e, "destroy", "--auto-approve")
    assert result.code != 0
    assert "--stack" in result.stderr
    assert _runs(e2e) == []


def test_a_stale_state_lock_is_released_by_the_command_its_error_prints(e2e: Env) -> None:
    lock_id = "5b1c7f5e-0000-4000-8000-e2e0000000bb"
    key = "storage/terraform.tfstate.tflock"
    info = {
        "ID": lock_id,
        "Operation": "OperationTypeApply",
        "Who": "someone@elsewhere",
        "Version": "1.15.5",
        "Created": "2026-11-23T10:00:00Z",
        "Info": "",
        "Path": key,
    }
    s3 = e2e.aws("s3")
    s3.put_object(Bucket=e2e.cloud.state_bucket, Key=key, Body=json.dumps(info).encode())

    locked = e2e.cli("plan", "--stack", "storage", "--json")
    assert locked.code == 1, locked.output
    (stack,) = json.loads(locked.stdout)["result"]["stacks"]
    printed = re.search(r"`(infra-gitops unlock [^`]+)`", stack["error"])
    assert printed is not None, stack["error"]
    argv = shlex.split(printed.group(1))
    assert argv[-1] == lock_id

    # Not on a terminal and not approved: the lock stays.
    unapproved = subprocess.run(
        [*cli_argv(), *argv[1:]],
        cwd=e2e.repo,
        env={**e2e.env, "INFRA_GITOPS_HOME": str(e2e.state_dir)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert unapproved.returncode == 1, unapproved.stderr
    assert s3.list_objects_v2(Bucket=e2e.cloud.state_bucket, Prefix=key).get("KeyCount") == 1

    # As printed, run from the infra repo with the same state dir, --auto-approve added.
    released = subprocess.run(
        [*cli_argv(), *argv[1:], "--auto-approve"],
        cwd=e2e.repo,
        env={**e2e.env, "INFRA_GITOPS_HOME": str(e2e.state_dir)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert released.returncode == 0, released.stdout + released.stderr
    assert s3.list_objects_v2(Bucket=e2e.cloud.state_bucket, Prefix=key).get("KeyCount") == 0
    assert e2e.cli("plan", "--stack", "storage").code == 2


def test_unlock_refuses_a_pulumi_stack_clearly(e2e: Env) -> None:
    (e2e.repo / "gitops.yaml").write_text((PROJECT / "gitops.yaml").read_text())
    shutil.copytree(PROJECT / "stacks", e2e.repo / "stacks", dirs_exist_ok=True)
    e2e.commit("Declare the Pulumi stack too")
    result = _cli(e2e, "unlock", "--stack", "queue", "some-lock-id", "--auto-approve")
    assert result.code == 1, result.output
    assert "'queue'" in result.stderr and "pulumi" in result.stderr
    assert "Terraform/OpenTofu" in result.stderr
