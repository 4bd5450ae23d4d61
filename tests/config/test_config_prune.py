"""The top-level `prune` limits and `policy.prune: confirm` (config/prune.py, build.py)."""

from __future__ import annotations

from pathlib import Path

from config_helpers import make_repo, problems

from infra_gitops.config import load_manifest
from infra_gitops.config.prune import PruneLimits


def test_without_a_prune_section_the_safe_defaults_hold(tmp_path: Path) -> None:
    make_repo(tmp_path, "version: 1\nstacks: [{name: a, path: a}]\n", ("a",))
    manifest = load_manifest(tmp_path)
    assert manifest.prune == PruneLimits(allow_empty=False, max_stacks=1, max_percent=25)
    assert manifest.stack("a").policy.prune is False


def test_the_prune_section_and_a_confirm_policy_are_read(tmp_path: Path) -> None:
    make_repo(
        tmp_path,
        """
        version: 1
        prune: {allow_empty: true, max_stacks: 3, max_percent: 50}
        defaults:
          policy: {prune: confirm}
        stacks:
          - {name: a, path: a}
          - {name: b, path: b, policy: {prune: true}}
        """,
        ("a", "b"),
    )
    manifest = load_manifest(tmp_path)
    assert manifest.prune == PruneLimits(allow_empty=True, max_stacks=3, max_percent=50)
    a, b = manifest.stack("a").policy, manifest.stack("b").policy
    assert (a.prune_needs_confirm, a.prunes_automatically) == (True, False)
    assert (b.prune_needs_confirm, b.prunes_automatically) == (False, True)


def test_bad_prune_settings_are_named_with_their_line(tmp_path: Path) -> None:
    make_repo(
        tmp_path,
        """
        version: 1
        prune: {allow_empty: sure, max_stacks: -1, max_percent: 101, max: 2}
        stacks:
          - {name: a, path: a, policy: {prune: maybe}}
        """,
        ("a",),
    )
    found = problems(tmp_path)
    assert "gitops.yaml:2: prune.allow_empty: expected true or false, got 'sure'" in found
    assert any(
        p.startswith("gitops.yaml:2: prune.max_stacks: expected a whole number") for p in found
    )
    assert any("prune.max_percent: expected a whole number from 0 to 100" in p for p in found)
    assert any("prune.max: unknown key 'max'" in p for p in found)
    assert (
        "gitops.yaml:4: stacks[0].policy.prune: expected true, false or \"confirm\", got 'maybe'"
        in found
    )
