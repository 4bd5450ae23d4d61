"""However a run ends, it ends cleanly: a failed apply leaves no saved plan file (they
hold variable values in clear), and a destroy that blows up inside the engine leaves its
record closed (never `running`), its lock free and no plan file behind."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
from e2e_helpers import SECRET, Env

from infra_gitops.engines.base import StackWorkspace
from infra_gitops.locking import stack_lock
from infra_gitops.models import ApplyResult, RunKind, RunStatus
from infra_gitops.progress import Progress
from infra_gitops.runs import RunStore
from infra_gitops.session import Options, open_session

pytestmark = pytest.mark.e2e


def _saved_plans(state_dir: Path) -> list[str]:
    found = []
    for folder, _, files in os.walk(state_dir):  # not into the sandbox (a symlink)
        found += [str(Path(folder, f)) for f in files if f.endswith((".tfplan", "plan.json"))]
    return [f for f in found if "/artifacts/" not in f]


def test_a_failed_apply_leaves_no_saved_plan_file(e2e: Env) -> None:
    # The parameter exists already: the plan succeeds, the apply fails creating it.
    e2e.aws("ssm").put_parameter(Name="/demo/dev/db_password", Value="x", Type="String")
    result = e2e.cli("apply", "--auto-approve", "--json")
    assert result.code == 1, result.output
    with RunStore.open(e2e.state_dir) as store:
        (failed,) = store.list(stack="app", kind=RunKind.APPLY)
    assert failed.status is RunStatus.FAILED
    assert "already exists" in (failed.error or "").lower()
    assert _saved_plans(e2e.state_dir) == []
    for folder, _, files in os.walk(e2e.state_dir):
        for name in files:
            assert SECRET.encode() not in Path(folder, name).read_bytes(), name


class _BrokenEngine:
    """Stand-in for an engine with a bug: it plans (a saved plan appears), then raises
    something no engine should."""

    name = "terraform"

    def prepare(self, ws: StackWorkspace) -> None:
        pass

    def destroy(self, ws: StackWorkspace) -> ApplyResult:
        plans = ws.work_dir / "plans"
        plans.mkdir(parents=True, exist_ok=True)
        (plans / "destroy.tfplan").write_text(f"db_password = {SECRET}")
        raise KeyError("a bug")


def test_a_destroy_that_raises_closes_its_record_and_leaves_nothing_behind(
    e2e: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TF_REATTACH_PROVIDERS", e2e.env["TF_REATTACH_PROVIDERS"])
    options = Options(repo=e2e.repo, state_dir=e2e.state_dir, ref="HEAD")
    with open_session(options, Progress(enabled=False)) as session:
        runner = replace(session.runner, engine_for=lambda _stack: _BrokenEngine())
        with pytest.raises(KeyError):
            runner.destroy(session.manifest.stack("storage"))
    with RunStore.open(e2e.state_dir) as store:
        (run,) = store.list(stack="storage")
    assert (run.kind, run.status) == (RunKind.DESTROY, RunStatus.FAILED)
    assert "internal error: KeyError" in (run.error or "")
    assert _saved_plans(e2e.state_dir) == []
    with stack_lock(e2e.state_dir, "storage", wait=0):
        pass  # free again
