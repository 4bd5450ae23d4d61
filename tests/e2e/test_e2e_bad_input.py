"""Bad input: a clear error that says what and where, a non-zero exit, nothing lost,
no other stack stopped, and a failed plan never applied."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from e2e_helpers import Env, bucket_name, cli_argv, git

from infra_gitops import sandbox
from infra_gitops.cli import build_parser

pytestmark = pytest.mark.e2e


def _runs(e2e: Env) -> list[dict]:
    result = e2e.cli("history", "--json", "--limit", "100")
    assert result.code == 0, result.output
    return json.loads(result.stdout)["result"]["runs"]


def _stacks(result_stdout: str) -> dict[str, dict]:
    result = json.loads(result_stdout)["result"]
    assert "stacks" in result, result
    return {s["stack"]: s for s in result["stacks"]}


def test_invalid_manifest_is_reported_with_file_line_and_key_and_nothing_runs(e2e: Env) -> None:
    gitops = e2e.repo / "gitops.yaml"
    gitops.write_text(
        gitops.read_text().replace("path: stacks/app", "path: stacks/app\n    polcy: {}")
    )
    validate = e2e.cli("validate")
    assert validate.code == 1
    assert "gitops.yaml:" in validate.stdout
    assert "stacks[1].polcy: unknown key 'polcy' (did you mean 'policy'?)" in validate.stdout

    plan = e2e.cli("plan")
    assert plan.code == 1
    assert "did you mean 'policy'" in plan.stderr
    assert "Traceback" not in plan.output
    assert _runs(e2e) == []


def test_missing_stack_directory_is_a_manifest_error(e2e: Env) -> None:
    gitops = e2e.repo / "gitops.yaml"
    gitops.write_text(gitops.read_text().replace("path: stacks/app", "path: stacks/missing"))
    result = e2e.cli("validate", "--json")
    assert result.code == 1
    (problem,) = json.loads(result.stdout)["result"]["problems"]
    assert problem["key"] == "stacks[1].path"
    assert "stacks/missing" in problem["message"]
    assert problem["line"] is not None
    assert e2e.cli("plan").code == 1


def test_invalid_hcl_fails_that_stack_only_and_nothing_of_it_is_applied(e2e: Env) -> None:
    main_tf = e2e.repo / "stacks" / "app" / "main.tf"
    main_tf.write_text(
        main_tf.read_text() + '\nresource "aws_ssm_parameter" "broken" {\n  name = \n}\n'
    )
    e2e.commit("Break the app stack")

    result = e2e.cli("apply", "--auto-approve", "--json")
    assert result.code == 1, result.output
    stacks = _stacks(result.stdout)
    assert stacks["storage"]["status"] == "applied"
    assert stacks["app"]["status"] == "failed"
    # Terraform's own diagnostic (from init -json), at the line where it is, named as the
    # repo names the file: never the snapshot copy the engine ran on.
    lines = main_tf.read_text().splitlines()
    line = lines.index("  name = ") + 1
    assert f"stacks/app/main.tf:{line}: Invalid expression" in stacks["app"]["error"]
    assert str(e2e.state_dir) not in stacks["app"]["error"]
    assert "Traceback" not in result.output
    # storage went on; nothing of app was applied.
    assert bucket_name(e2e) == "demo-dev-artifacts"
    assert e2e.aws("ssm").describe_parameters()["Parameters"] == []
    failed = [r for r in _runs(e2e) if r["stack"] == "app"]
    assert [r["status"] for r in failed] == ["failed"]


def test_a_failed_dependency_skips_its_dependents_and_says_why(e2e: Env) -> None:
    variables = e2e.repo / "gitops.yaml"
    # Fails Terraform's variable validation at plan time: the plan fails, nothing applied.
    variables.write_text(
        variables.read_text().replace("name_prefix: demo", "name_prefix: NOT_VALID")
    )
    e2e.commit("An invalid name prefix")
    result = e2e.cli("apply", "--auto-approve", "--json")
    assert result.code == 1, result.output
    stacks = _stacks(result.stdout)
    assert stacks["storage"]["status"] == "failed"
    assert "name_prefix must be" in stacks["storage"]["error"]
    assert stacks["app"]["status"] == "skipped"
    assert stacks["app"]["error"] == "skipped: dependency storage failed"
    assert [b["Name"] for b in e2e.aws("s3").list_buckets()["Buckets"]] == ["infra-gitops-state"]


def test_missing_engine_binary_fails_that_stack_with_how_to_fix(applied: Env) -> None:
    e2e = applied
    gitops = e2e.repo / "gitops.yaml"
    gitops.write_text(
        gitops.read_text().replace(
            "path: stacks/app", "path: stacks/app\n    binary: /opt/none/tofu"
        )
    )
    e2e.commit("Use a tofu that is not installed")
    result = e2e.cli("plan", "--json")
    assert result.code == 1, result.output
    stacks = _stacks(result.stdout)
    assert stacks["storage"]["status"] == "no-changes"
    assert stacks["app"]["status"] == "failed"
    assert "/opt/none/tofu" in stacks["app"]["error"]
    assert "install" in stacks["app"]["error"].lower()


def test_unknown_commit_and_unknown_stack_are_clear_errors(e2e: Env) -> None:
    result = e2e.cli("plan", "--ref", "deadbeef")
    assert result.code == 1
    assert "deadbeef" in result.stderr and "does not exist" in result.stderr
    result = e2e.cli("plan", "--stack", "stroage")
    assert result.code == 1
    assert "stroage" in result.stderr and "storage" in result.stderr
    assert "Traceback" not in result.output
    assert _runs(e2e) == []


def test_apply_without_a_terminal_needs_auto_approve(e2e: Env) -> None:
    result = e2e.cli("apply")
    assert result.code == 1
    assert "--auto-approve" in result.stderr
    assert [b["Name"] for b in e2e.aws("s3").list_buckets()["Buckets"]] == ["infra-gitops-state"]


def test_stack_held_by_another_run_fails_fast_and_names_the_holder(applied: Env) -> None:
    e2e = applied
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from pathlib import Path\n"
            "from infra_gitops.locking import stack_lock\n"
            f"with stack_lock(Path({str(e2e.state_dir)!r}), 'storage'):\n"
            "    print('held', flush=True)\n"
            "    time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        result = e2e.cli("plan", "--json")
        assert result.code == 1, result.output
        stacks = _stacks(result.stdout)
        assert stacks["app"]["status"] == "no-changes"  # the other stack went on
        assert stacks["storage"]["status"] == "failed"
        assert str(holder.pid) in stacks["storage"]["error"]
    finally:
        holder.kill()
        holder.wait()
    assert e2e.cli("plan").code == 0  # released when its holder died


def test_terraform_state_lock_is_reported_with_its_id_and_not_forced(applied: Env) -> None:
    e2e = applied
    lock_id = "5b1c7f5e-0000-4000-8000-e2e0000000aa"
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

    result = e2e.cli("plan", "--json")
    assert result.code == 1, result.output
    stacks = _stacks(result.stdout)
    assert stacks["storage"]["status"] == "failed"
    assert lock_id in stacks["storage"]["error"]
    assert stacks["app"]["status"] == "no-changes"
    # Not forced: the lock object is still there.
    assert s3.get_object(Bucket=e2e.cloud.state_bucket, Key=key)["Body"].read()


def test_cloud_endpoint_down_is_a_clear_error(e2e: Env, tmp_path) -> None:
    state_dir = tmp_path / "own-sandbox"
    info = sandbox.up(state_dir)
    sandbox_pid = info.pid
    subprocess.run(["kill", "-9", str(sandbox_pid)], check=True)
    deadline = time.monotonic() + 10
    while sandbox.status(state_dir) is not None and time.monotonic() < deadline:
        time.sleep(0.1)

    result = e2e.cli("plan", state_dir=state_dir)
    assert result.code == 1
    assert info.endpoint in result.stderr and "not answering" in result.stderr
    assert "sandbox up" in result.stderr
    sandbox.down(state_dir)


def test_state_backend_unreachable_names_the_endpoint(e2e: Env) -> None:
    gitops = e2e.repo / "gitops.yaml"
    gitops.write_text(
        gitops.read_text().replace(
            "      environment: dev",
            "      environment: dev\n    backend:\n"
            "      endpoints: {s3: 'http://127.0.0.1:9'}\n      max_retries: 1",
        )
    )
    e2e.commit("Point storage's state at a closed port")
    result = e2e.cli("plan", "--stack", "storage", "--json")
    assert result.code == 1, result.output
    stack = _stacks(result.stdout)["storage"]
    assert stack["status"] == "failed"
    assert "http://127.0.0.1:9" in stack["error"]
    assert "down or unreachable" in stack["error"]


def _alias_bomb() -> str:
    """ "Billion laughs": 9 levels, each repeating the one above 9 times (9^9 strings)."""
    lines = ["version: 1", "l0: &l0 [" + ", ".join(['"lol"'] * 9) + "]"]
    lines += [f"l{n}: &l{n} [" + ", ".join([f"*l{n - 1}"] * 9) + "]" for n in range(1, 9)]
    return "\n".join([*lines, "stacks: []"]) + "\n"


def _timed_cli(*args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = subprocess.run(
        [*cli_argv(), *args], capture_output=True, text=True, timeout=60, check=False
    )
    return done, time.monotonic() - started


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        (_alias_bomb(), "gitops.yaml:6: aliases expand past 10000 nodes: refused"),
        ("version: 1\nx: " + "[" * 200_000 + "\n", "gitops.yaml:2: nested deeper than 64 levels"),
        ("version: 1\n" + "#" * 2_000_000 + "\n", "gitops.yaml: larger than 1024 KiB: refused"),
    ],
    ids=["alias-bomb", "deep-nesting", "oversize"],
)
def test_a_hostile_manifest_is_refused_by_validate_in_well_under_a_second(
    tmp_path: Path, manifest: str, message: str
) -> None:
    repo = tmp_path / "infra"
    repo.mkdir()
    git(repo, "init", "-q", "--initial-branch=main")
    (repo / "gitops.yaml").write_text(manifest)
    state = ("--state-dir", str(tmp_path / "state"))
    # The interpreter and imports take most of a second on a busy machine: measured apart.
    _, startup = _timed_cli("--version")

    done, elapsed = _timed_cli("validate", "--repo", str(repo), *state)

    assert done.returncode == 1, done.stdout + done.stderr
    assert message in done.stdout
    assert "Traceback" not in done.stderr
    assert elapsed - startup < 1.0


def test_a_tf_file_symlinked_from_outside_the_repo_is_refused_before_any_engine_runs(
    e2e: Env, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.tf"
    outside.write_text('resource "aws_s3_bucket" "stolen" {\n  bucket = "stolen-by-symlink"\n}\n')
    link = e2e.repo / "stacks" / "storage" / "stolen.tf"
    link.symlink_to(outside)
    refused = "stacks/storage/stolen.tf: symlink to"

    # The working tree (the CLI's default) ...
    in_worktree = e2e.cli("apply", "--auto-approve")
    assert in_worktree.code == 1, in_worktree.output
    assert refused in in_worktree.stderr and "points outside the repository" in in_worktree.stderr

    # ... and a commit (--ref, as CI and the daemon read it), with a clean working tree.
    sha = e2e.commit("Link a file from outside the repo")
    link.unlink()
    e2e.commit("Remove the link again")
    at_ref = e2e.cli("apply", "--auto-approve", "--ref", sha)
    assert at_ref.code == 1, at_ref.output
    assert refused in at_ref.stderr
    assert "Traceback" not in in_worktree.output + at_ref.output

    # No engine ran: nothing recorded, nothing created.
    assert _runs(e2e) == []
    assert [b["Name"] for b in e2e.aws("s3").list_buckets()["Buckets"]] == ["infra-gitops-state"]


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["plan", "--parallelism", "0"], "--parallelism"),
        (["apply", "--timeout", "-5"], "--timeout"),
        (["plan", "--lock-wait", "-1"], "--lock-wait"),
        (["history", "--limit", "0"], "--limit"),
        (["daemon", "--repo", "r", "--poll-interval", "0"], "--poll-interval"),
        (["daemon", "--repo", "r", "--drift-interval", "nan"], "--drift-interval"),
        (["ci", "plan", "--parallelism", "-2"], "--parallelism"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else value,
)
def test_numbers_that_make_no_sense_are_usage_errors_naming_the_flag(
    tmp_path: Path, argv: list[str], flag: str
) -> None:
    done, _ = _timed_cli(*argv, "--state-dir", str(tmp_path / "state"))

    assert done.returncode == 1, done.stdout + done.stderr  # usage error: 1, never 2
    assert f"error: argument {flag}: must be " in done.stderr
    assert not (tmp_path / "state").exists()  # refused before anything ran


def test_zero_lock_wait_means_do_not_wait_and_is_accepted() -> None:
    args = build_parser().parse_args(["plan", "--lock-wait", "0", "--timeout", "0.5"])

    assert (args.lock_wait, args.timeout, args.parallelism) == (0.0, 0.5, 2)
