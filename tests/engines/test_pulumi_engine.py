"""The Pulumi engine through the Automation API.

Two lanes:
- `standin_*` tests drive the real SDK against a STAND-IN for the `pulumi` CLI
  (data/pulumi/standin_pulumi.py): they check how the engine drives the CLI (arguments,
  environment, config and secrets, saved update plan) and what it makes of the events.
  They say nothing about Pulumi itself.
- `pulumi_cli`-marked tests run the real CLI and are skipped when it is not on PATH.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
from pathlib import Path

import pytest

from infra_gitops.engines.base import StackWorkspace
from infra_gitops.engines.pulumi import PulumiEngine
from infra_gitops.engines.pulumi_backend import (
    restore_secrets_settings,
    save_secrets_settings,
)
from infra_gitops.engines.registry import engine_for
from infra_gitops.errors import EngineError, EngineNotFoundError
from infra_gitops.models import SENSITIVE_MARKER, Action, ChangeCounts, Stack

PROJECT = Path(__file__).resolve().parents[2]
EXAMPLE = PROJECT / "stacks" / "pulumi-queue"
STANDIN = Path(__file__).parent / "data" / "pulumi" / "standin_pulumi.py"
TOKEN = "tok-0123456789"
PASSPHRASE = "correct-horse-battery"
QUEUE = "urn:pulumi:dev::queue::aws:sqs/queue:Queue::jobs"


def make_ws(tmp_path: Path, stack: Stack, env: dict[str, str]) -> StackWorkspace:
    source = tmp_path / "snapshot" / stack.path
    shutil.copytree(EXAMPLE, source)
    return StackWorkspace(
        stack=stack,
        source_dir=source,
        work_dir=tmp_path / "work",
        env=env,
        variables=dict(stack.variables),
        secrets=frozenset({TOKEN}),
        log_file=tmp_path / "run.log",
    )


def queue_stack(**changes: object) -> Stack:
    fields: dict = dict(
        name="queue",
        path="stacks/pulumi-queue",
        engine="pulumi",
        workspace="dev",
        variables={"visibility_timeout": 45, "webhook_token": TOKEN},
        sensitive_variables=frozenset({"webhook_token"}),
    )
    fields.update(changes)
    return Stack(**fields)


@pytest.fixture
def standin(tmp_path: Path) -> Path:
    """An executable named `pulumi` that runs the stand-in."""
    bin_dir = tmp_path / "standin-bin"
    bin_dir.mkdir()
    exe = bin_dir / "pulumi"
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{STANDIN}" "$@"\n')
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return exe


def standin_env(tmp_path: Path, **scenario: str) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "STANDIN_DIR": str(tmp_path / "standin-state"),
        "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
        **scenario,
    }


def calls(tmp_path: Path) -> list[dict]:
    lines = (tmp_path / "standin-state" / "calls.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


# --- the CLI is missing / misconfigured ------------------------------------------------


def test_registry_has_the_pulumi_engine() -> None:
    assert isinstance(engine_for("pulumi"), PulumiEngine)


def test_missing_cli_fails_prepare_first_with_install_instructions(tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    # No passphrase either: the missing CLI must be what is reported.
    ws = make_ws(tmp_path, queue_stack(), {"PATH": str(empty), "HOME": str(tmp_path)})
    with pytest.raises(EngineNotFoundError) as raised:
        PulumiEngine().prepare(ws)
    message = str(raised.value)
    assert "stack 'queue'" in message
    assert "https://www.pulumi.com/docs/install/" in message
    assert "`binary:`" in message


def test_a_stack_binary_that_does_not_exist_is_named(tmp_path: Path) -> None:
    stack = queue_stack(binary=str(tmp_path / "nowhere" / "pulumi"))
    ws = make_ws(tmp_path, stack, {"PATH": os.environ["PATH"], "HOME": str(tmp_path)})
    with pytest.raises(EngineNotFoundError, match="nowhere/pulumi"):
        PulumiEngine().prepare(ws)


def test_standin_without_passphrase_says_how_to_set_it(tmp_path: Path, standin: Path) -> None:
    env = standin_env(tmp_path)
    del env["PULUMI_CONFIG_PASSPHRASE"]
    ws = make_ws(tmp_path, queue_stack(binary=str(standin)), env)
    with pytest.raises(EngineError, match="PULUMI_CONFIG_PASSPHRASE"):
        PulumiEngine().prepare(ws)


def test_standin_unknown_backend_settings_are_refused(tmp_path: Path, standin: Path) -> None:
    stack = queue_stack(binary=str(standin), backend_config={"bucket": "b"})
    ws = make_ws(tmp_path, stack, standin_env(tmp_path))
    with pytest.raises(EngineError, match="backend_config has 'bucket'"):
        PulumiEngine().prepare(ws)


# --- the Automation API driving a stand-in CLI -----------------------------------------


def test_standin_prepare_creates_the_stack_and_sets_config_secrets_off_argv(
    tmp_path: Path, standin: Path
) -> None:
    ws = make_ws(tmp_path, queue_stack(binary=str(standin)), standin_env(tmp_path))
    PulumiEngine().prepare(ws)
    made = calls(tmp_path)
    commands = [c["args"][:2] for c in made]
    assert ["stack", "select"] in commands and ["stack", "init"] in commands
    # State in a local file backend inside the work dir, for every command.
    backend = (ws.work_dir / "pulumi-state").as_uri()
    assert {c["backend"] for c in made if c["args"] != ["version"]} == {backend}
    config = json.loads((tmp_path / "standin-state" / "config.json").read_text())
    assert config["visibility_timeout"] == {"value": "45", "secret": False}
    assert config["webhook_token"] == {"value": TOKEN, "secret": True}
    assert all(TOKEN not in " ".join(c["args"]) for c in made)
    assert any(c["stdin"] for c in made if c["args"][:2] == ["config", "set"])
    assert TOKEN not in ws.log_file.read_text()  # type: ignore[union-attr]


def test_standin_plan_then_apply_uses_the_saved_update_plan(tmp_path: Path, standin: Path) -> None:
    env = standin_env(tmp_path, STANDIN_PREVIEW="preview_update.jsonl")
    ws = make_ws(tmp_path, queue_stack(binary=str(standin)), env)
    engine = PulumiEngine()
    engine.prepare(ws)
    plan = engine.plan(ws)
    assert plan.engine_version == "pulumi 3.205.0"
    assert [(c.address, c.action) for c in plan.changes] == [(QUEUE, Action.UPDATE)]
    assert plan.changes[0].changed_paths == ("tags.env", "visibilityTimeoutSeconds")
    assert plan.plan_file is not None and plan.plan_file.is_file()
    assert stat.S_IMODE(plan.plan_file.stat().st_mode) == 0o600
    preview_args = next(c["args"] for c in calls(tmp_path) if c["args"][0] == "preview")
    assert {"--refresh", "--save-plan", "--json"} <= set(preview_args)

    assert plan.artifact is not None
    artifact = json.loads(plan.artifact.read_text())
    assert artifact["changes"][0]["address"] == QUEUE
    assert artifact["preview"]["changeSummary"] == {
        "create": 1,
        "replace": 1,
        "same": 1,
        "update": 1,
    }

    plan_file = plan.plan_file
    result = engine.apply(ws, plan)
    up_args = next(c["args"] for c in calls(tmp_path) if c["args"][0] == "up")
    assert up_args[up_args.index("--plan") + 1] == str(plan_file)
    assert "--refresh" in up_args
    assert not plan_file.exists()  # applied once, never again
    assert result.counts == ChangeCounts(update=1)
    assert result.outputs == {
        "queue_url": "http://127.0.0.1:4566/000000000000/jobs",
        "token": SENSITIVE_MARKER,
    }
    assert TOKEN not in ws.log_file.read_text()  # type: ignore[union-attr]


def test_standin_drift_check_is_a_preview_only_refresh(tmp_path: Path, standin: Path) -> None:
    env = standin_env(tmp_path, STANDIN_REFRESH="refresh_drift.jsonl")
    ws = make_ws(tmp_path, queue_stack(binary=str(standin)), env)
    engine = PulumiEngine()
    engine.prepare(ws)
    plan = engine.plan(ws, refresh_only=True)
    refresh_args = next(c["args"] for c in calls(tmp_path) if c["args"][0] == "refresh")
    assert "--preview-only" in refresh_args and "--yes" not in refresh_args
    assert plan.refresh_only and plan.plan_file is None and plan.changes == ()
    assert {(c.address, c.action) for c in plan.drift} == {
        (QUEUE, Action.UPDATE),
        ("urn:pulumi:dev::queue::aws:ssm/parameter:Parameter::jobs-url", Action.DELETE),
    }


def test_standin_a_failed_preview_names_the_stack_step_and_resource(
    tmp_path: Path, standin: Path
) -> None:
    env = standin_env(tmp_path, STANDIN_PREVIEW="up_failed.jsonl", STANDIN_FAIL="preview")
    ws = make_ws(tmp_path, queue_stack(binary=str(standin)), env)
    engine = PulumiEngine()
    engine.prepare(ws)
    with pytest.raises(EngineError) as raised:
        engine.plan(ws)
    message = str(raised.value)
    assert message.startswith("stack 'queue': pulumi preview failed:")
    assert f"{QUEUE}: " in message
    assert "Invalid value for the parameter VisibilityTimeout" in message


def test_standin_destroy_counts_the_deletes(tmp_path: Path, standin: Path) -> None:
    env = standin_env(tmp_path, STANDIN_DESTROY="preview_delete.jsonl")
    ws = make_ws(tmp_path, queue_stack(binary=str(standin)), env)
    engine = PulumiEngine()
    engine.prepare(ws)
    assert engine.destroy(ws).counts == ChangeCounts(delete=1)


def test_standin_state_resources_map_pulumi_types_to_terraform_ones(
    tmp_path: Path, standin: Path
) -> None:
    ws = make_ws(tmp_path, queue_stack(binary=str(standin)), standin_env(tmp_path))
    engine = PulumiEngine()
    engine.prepare(ws)
    held = {(r.type, r.id): r for r in engine.state_resources(ws)}
    assert set(held) == {
        ("aws_sqs_queue", "http://127.0.0.1:4566/000000000000/jobs-1a2b"),
        ("aws_s3_bucket", "assets-9f8e"),
        ("aws:ec2/vpc:Vpc", "vpc-0abc"),  # no Terraform type known: named as it is
    }
    queue = held[("aws_sqs_queue", "http://127.0.0.1:4566/000000000000/jobs-1a2b")]
    assert (queue.name, queue.arn) == ("jobs-1a2b", "arn:aws:sqs:us-east-1:000000000000:jobs-1a2b")
    assert held[("aws_s3_bucket", "assets-9f8e")].name == "assets-9f8e"
    assert calls(tmp_path)[-1]["args"][:3] == ["stack", "export", "--show-secrets"]


def test_secrets_settings_survive_the_snapshot(tmp_path: Path) -> None:
    first = make_ws(tmp_path / "a", queue_stack(), {})
    first.work_dir.mkdir(parents=True)
    (first.source_dir / "Pulumi.dev.yaml").write_text("encryptionsalt: v1:abc:def\n")
    save_secrets_settings(first)
    second = StackWorkspace(
        stack=first.stack, source_dir=tmp_path / "b", work_dir=first.work_dir, env={}
    )
    second.source_dir.mkdir()
    restore_secrets_settings(second)
    assert "encryptionsalt: v1:abc:def" in (second.source_dir / "Pulumi.dev.yaml").read_text()


# --- the real CLI ----------------------------------------------------------------------

real_cli = pytest.mark.skipif(
    shutil.which("pulumi") is None, reason="the Pulumi CLI (`pulumi`) is not on PATH"
)


@pytest.mark.pulumi_cli
@real_cli
def test_real_cli_prepare_and_drift_check_on_a_new_stack(tmp_path: Path) -> None:
    """A new stack in a local file backend: config and a secret set, a preview-only
    refresh finds nothing, no outputs yet. Needs no provider plugin (nothing deployed)."""
    env = {**os.environ, "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE}
    env.pop("PULUMI_BACKEND_URL", None)
    ws = make_ws(tmp_path, queue_stack(), env)
    engine = PulumiEngine()
    assert engine.version(ws).startswith("pulumi 3.")
    engine.prepare(ws)
    plan = engine.plan(ws, refresh_only=True)
    assert plan.drift == () and plan.changes == ()
    assert engine.outputs(ws) == {}
    stack_file = ws.source_dir / "Pulumi.dev.yaml"
    assert TOKEN not in stack_file.read_text()  # stored encrypted
