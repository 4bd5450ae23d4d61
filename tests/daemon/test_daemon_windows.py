"""Sync windows: the manifest section and when they hold an apply."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from infra_gitops import config
from infra_gitops.config.sync_windows import SyncWindow
from infra_gitops.daemon.windows import apply_hold, is_active

NIGHT = SyncWindow("deny", "0 22 * * *", 8 * 3600, ("prod-*",))
OFFICE = SyncWindow("allow", "0 9 * * 1-5", 8 * 3600, ("web",), manual_sync=True)


def _at(day: int, hour: int) -> datetime:
    return datetime(2026, 11, day, hour, 30, tzinfo=UTC)  # 2026-11-23 is a Monday


def test_a_window_is_active_from_its_start_for_its_duration() -> None:
    assert is_active(NIGHT, _at(23, 23))
    assert is_active(NIGHT, _at(24, 5))  # opened yesterday at 22:00
    assert not is_active(NIGHT, _at(24, 6))


def test_deny_holds_matching_stacks_only() -> None:
    assert "deny '0 22 * * *' for 8h is active" in (
        apply_hold([NIGHT], "prod-db", _at(23, 23)) or ""
    )
    assert apply_hold([NIGHT], "staging-db", _at(23, 23)) is None
    assert apply_hold([NIGHT], "prod-db", _at(23, 12)) is None


def test_allow_windows_hold_outside_them_and_manual_sync_lets_a_rollback_through() -> None:
    assert apply_hold([OFFICE], "web", _at(23, 10)) is None
    assert "outside every allow window" in (apply_hold([OFFICE], "web", _at(28, 10)) or "")
    assert apply_hold([OFFICE], "web", _at(28, 10), manual=True) is None


def _manifest(tmp_path: Path, windows: str) -> Path:
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "main.tf").write_text("")
    text = f"version: 1\nstacks:\n  - name: s\n    path: s\nsync_windows:\n{windows}"
    (tmp_path / "gitops.yaml").write_text(text)
    return tmp_path


def test_the_manifest_section_is_read(tmp_path: Path) -> None:
    root = _manifest(tmp_path, "  - {kind: deny, schedule: '0 22 * * *', duration: 8h}\n")
    (window,) = config.load_manifest(root).sync_windows
    assert window == SyncWindow("deny", "0 22 * * *", 28800)


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("{kind: deny, schedule: '0 25 * * *', duration: 1h}", "sync_windows[0].schedule"),
        ("{kind: maybe, schedule: '0 1 * * *', duration: 1h}", "sync_windows[0].kind"),
        ("{kind: deny, schedule: '0 1 * * *'}", "sync_windows[0]"),
    ],
)
def test_bad_windows_say_where(tmp_path: Path, entry: str, expected: str) -> None:
    root = _manifest(tmp_path, f"  - {entry}\n")
    problems = config.validate_manifest(root)
    assert problems and any(p.key_path == expected for p in problems), problems
    assert all(p.line == 6 for p in problems)
