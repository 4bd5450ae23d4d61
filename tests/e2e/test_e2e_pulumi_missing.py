"""The example repo's full manifest on a machine without the Pulumi CLI (ours)."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from e2e_helpers import PROJECT, Env

pytestmark = pytest.mark.e2e


def test_a_pulumi_stack_without_its_cli_fails_alone_saying_how_to_install(e2e: Env) -> None:
    shutil.copy(PROJECT / "gitops.yaml", e2e.repo / "gitops.yaml")
    e2e.commit("The full example manifest, Pulumi stack included")
    path = os.pathsep.join(
        d
        for d in e2e.env.get("PATH", "").split(os.pathsep)
        if d and not os.access(os.path.join(d, "pulumi"), os.X_OK)
    )
    e2e.env["PATH"] = path

    result = e2e.cli("plan", "--json")
    assert result.code == 1, result.output
    stacks = {s["stack"]: s for s in json.loads(result.stdout)["result"]["stacks"]}
    assert stacks["storage"]["status"] == "changes"
    assert stacks["queue"]["status"] == "failed"
    assert "https://www.pulumi.com/docs/install/" in stacks["queue"]["error"]
    history = json.loads(e2e.cli("history", "--stack", "queue", "--json").stdout)
    (run,) = history["result"]["runs"]
    assert run["status"] == "failed" and run["engine"] == "pulumi"
