"""When a promotion is refused (promotion/checks.py) and how a pin is written into the
manifest's text (config/pinning.py)."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta

import pytest

from infra_gitops.config.document import Document
from infra_gitops.config.pinning import with_pin
from infra_gitops.config.yaml_source import parse_text
from infra_gitops.daemon.contracts import StackView, SyncStatus
from infra_gitops.errors import ConfigError
from infra_gitops.models import Commit, Promotion, Run, RunKind, RunStatus, Stack
from infra_gitops.promotion.checks import order_refusal, source_refusal, target_refusal

ORDER = Promotion(order=("dev", "staging", "prod"))
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("source", "target", "refusal"),
    [
        ("dev", "staging", None),
        ("staging", "prod", None),
        ("dev", "prod", "it skips staging"),
        ("prod", "staging", "prod comes after staging"),
        ("dev", "dev", "to itself"),
        ("dev", "qa", "qa is not in the promotion order"),
    ],
)
def test_the_order_allows_one_step_forward(source: str, target: str, refusal: str | None) -> None:
    found = order_refusal(ORDER, source, target)
    assert (found is None) if refusal is None else (refusal in (found or ""))
    assert order_refusal(Promotion(), "dev", "prod") is None  # no order: any pair


def test_a_target_that_follows_the_branch_is_refused() -> None:
    assert "follows the branch" in (target_refusal(Stack("app@prod", "app")) or "")
    assert target_refusal(Stack("app@prod", "app", revision="a" * 40)) is None


def _view(status: SyncStatus, message: str = "") -> StackView:
    return StackView("app@staging", status, "terraform", "a" * 40, "a" * 40, None, None, message)


def _applied(ago: timedelta) -> Run:
    at = (NOW - ago).isoformat()
    commit = Commit("a" * 40, "A", "a@x", at, "m")
    return Run("r1", "app@staging", RunKind.APPLY, "cli", RunStatus.APPLIED, commit, at, at)


def test_the_source_must_be_synced_and_soaked() -> None:
    hour = timedelta(hours=1)
    assert source_refusal(_view(SyncStatus.SYNCED), _applied(hour), 3600, NOW) is None
    drifted = source_refusal(_view(SyncStatus.DRIFTED, "live differs"), _applied(hour), 0, NOW)
    assert drifted is not None and "is Drifted (live differs)" in drifted
    failed = source_refusal(_view(SyncStatus.FAILED, "apply failed"), _applied(hour), 0, NOW)
    assert failed is not None and "failed: apply failed" in failed
    pending = source_refusal(_view(SyncStatus.OUT_OF_SYNC), _applied(hour), 0, NOW)
    assert pending is not None and "not Synced" in pending
    young = source_refusal(_view(SyncStatus.SYNCED), _applied(timedelta(minutes=10)), 3600, NOW)
    assert young is not None and "applied 10m ago" in young and "wait 50m" in young
    assert "never been applied" in (source_refusal(None, None, 0, NOW) or "")


MANIFEST = textwrap.dedent(
    """\
    version: 1
    stacks:
      - name: app  # the web app
        path: app
        environments:
          - name: dev
          - name: prod   # customers
            revision: "1111111111111111111111111111111111111111"  # last promoted
          - {name: flow}
    """
)


def _doc() -> Document:
    doc, problems = parse_text(MANIFEST, "gitops.yaml")
    assert doc is not None and not problems
    return doc


def test_a_pin_is_one_line_changed_or_added() -> None:
    sha = "2" * 40
    moved = with_pin(MANIFEST, _doc(), ("stacks", 0, "environments", 1), sha)
    assert moved == MANIFEST.replace("1" * 40, sha)  # the comment stays
    added = with_pin(MANIFEST, _doc(), ("stacks", 0, "environments", 0), sha)
    assert added == MANIFEST.replace(
        "      - name: dev\n", f'      - name: dev\n        revision: "{sha}"\n'
    )


def test_an_environment_in_flow_style_is_not_rewritten() -> None:
    with pytest.raises(ConfigError, match="flow style"):
        with_pin(MANIFEST, _doc(), ("stacks", 0, "environments", 2), "2" * 40)
