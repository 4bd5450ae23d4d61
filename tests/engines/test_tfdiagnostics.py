"""Terraform's diagnostics as data: the -json message, the plain-text fallback, and the
errors classified from them. The engine tests run the same paths with the real
Terraform (a lock, a refused endpoint, syntax errors, a missing module)."""

from __future__ import annotations

import pytest

from infra_gitops.engines.tfdiagnostics import (
    Diagnostic,
    classify,
    from_message,
    needs_init,
    parse_text,
)
from infra_gitops.errors import StateLockedError

LOCK_DETAIL = (
    "Error message: operation error S3: PutObject, https response error StatusCode: 412\n"
    "Lock Info:\n"
    "  ID:        7d3e9a10-aaaa-4bbb-8ccc-ddddeeee0001\n"
    "  Path:      tf-state/app/tfstate\n"
    "  Operation: OperationTypeApply\n"
    "  Who:       ci@runner\n"
    "  Version:   1.15.5\n"
    "  Created:   2026-11-23 10:00:00 +0000 UTC\n"
    "  Info:      \n"
    "\n"
    "\n"
    "Terraform acquires a state lock to protect the state from being written\n"
    "by multiple users at the same time."
)


def _classified(diagnostics: list[Diagnostic], other: str = "") -> Exception:
    return classify(
        where="stack 'app': terraform plan failed",
        stack="app",
        stack_path="stacks/app",
        source_dir="/tmp/snapshot/stacks/app",
        diagnostics=diagnostics,
        other_output=other,
    )


def test_a_json_diagnostic_is_read_with_its_place() -> None:
    message = {
        "type": "diagnostic",
        "@message": "Error: Unsupported argument",
        "diagnostic": {
            "severity": "error",
            "summary": "Unsupported argument",
            "detail": 'An argument named "bogus" is not expected here.',
            "range": {"filename": "main.tf", "start": {"line": 2, "column": 3}},
        },
    }
    assert from_message(message) == Diagnostic(
        "error",
        "Unsupported argument",
        'An argument named "bogus" is not expected here.',
        "main.tf",
        2,
    )
    assert from_message({"type": "planned_change", "@message": "x: Plan to create"}) is None
    assert from_message({"type": "diagnostic", "diagnostic": "not an object"}) is None


def test_the_lock_error_names_the_lock_and_how_to_release_it() -> None:
    error = _classified([Diagnostic("error", "Error acquiring the state lock", LOCK_DETAIL)])
    assert isinstance(error, StateLockedError)
    assert error.lock_id == "7d3e9a10-aaaa-4bbb-8ccc-ddddeeee0001"
    assert str(error) == (
        "stack 'app': terraform plan failed: the state is locked by another run (lock ID "
        "7d3e9a10-aaaa-4bbb-8ccc-ddddeeee0001; who ci@runner, operation OperationTypeApply, "
        "created 2026-11-23 10:00:00 +0000 UTC). Wait for that run to finish; if it died, "
        "release the lock (`infra-gitops unlock --stack app "
        "7d3e9a10-aaaa-4bbb-8ccc-ddddeeee0001`) once you are sure nothing is using the state"
    )


def test_the_text_form_reads_into_the_same_diagnostics() -> None:
    text = (
        "╷\n│ Error: Error acquiring the state lock\n│ \n│ "
        + LOCK_DETAIL.replace("\n", "\n│ ")
        + "\n╵\n\nWarning: Deprecated\n\n  on main.tf line 4:\n   4: x = 1\n\nOld.\n"
    )
    lock, warning = parse_text(text)
    assert (lock.severity, lock.summary, lock.file) == ("error", LOCK_SUMMARY, None)
    assert lock.detail == "\n".join(line.rstrip() for line in LOCK_DETAIL.splitlines())
    assert warning == Diagnostic("warning", "Deprecated", "Old.", "main.tf", 4)
    assert isinstance(_classified(parse_text(text)), StateLockedError)


LOCK_SUMMARY = "Error acquiring the state lock"


def test_a_refused_connection_names_the_endpoint() -> None:
    detail = (
        "error loading state: operation error S3: ListObjectsV2, exceeded maximum number of "
        'attempts, 1, https response error: Get "http://127.0.0.1:9/tf-state?list-type=2": '
        "dial tcp 127.0.0.1:9: connect: connection refused"
    )
    error = _classified([Diagnostic("error", "Error loading state", detail)])
    assert "the endpoint http://127.0.0.1:9 is down or unreachable" in str(error)


def test_errors_are_named_by_their_repo_path_without_repeats_or_preamble() -> None:
    syntax = Diagnostic("error", "Invalid expression", "Expected an expression.", "main.tf", 6)
    module = Diagnostic("error", "Bad", "In a module.", "../../modules/x/main.tf", 3)
    absolute = Diagnostic("error", "Here", "", "/tmp/snapshot/stacks/app/sub/a.tf", 1)
    preamble = Diagnostic("error", "Terraform encountered problems during initialisation, ...")
    warning = Diagnostic("warning", "Deprecated", "Old.", "main.tf", 1)
    error = _classified([preamble, syntax, syntax, module, absolute, warning])
    assert str(error) == (
        "stack 'app': terraform plan failed:\n"
        "  stacks/app/main.tf:6: Invalid expression: Expected an expression.\n"
        "  modules/x/main.tf:3: Bad: In a module.\n"
        "  stacks/app/sub/a.tf:1: Here"
    )


def test_without_diagnostics_the_last_lines_are_shown() -> None:
    output = "\n".join(f"line {n}" for n in range(1, 16))
    assert str(_classified([], output)).endswith("\n".join(f"line {n}" for n in range(6, 16)))
    assert str(_classified([], "")).endswith("(no output)")


@pytest.mark.parametrize(
    ("summary", "needed"),
    [
        ("Module not installed", True),
        ('Backend initialization required: please run "terraform init"', True),
        ("Inconsistent dependency lock file", True),
        ("Invalid expression", False),
    ],
)
def test_init_is_needed_by_summary(summary: str, needed: bool) -> None:
    assert needs_init([Diagnostic("error", summary, 'Run "terraform init".')]) is needed
    assert needs_init([Diagnostic("warning", summary)]) is False
