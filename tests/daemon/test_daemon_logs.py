"""configure_logging: JSON lines with structured fields, text lines, secrets scrubbed."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from infra_gitops.daemon.logs import LoggingSetup, configure_logging
from infra_gitops.models import SENSITIVE_MARKER

SECRET = "s3cr3t-db-password"
log = logging.getLogger("infra_gitops.daemon.test")


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    root.setLevel(level)
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)


def setup(fmt: str, scrub: tuple[str, ...] = (SECRET,)) -> tuple[LoggingSetup, io.StringIO]:
    out = io.StringIO()
    return configure_logging(fmt, level="INFO", scrub=scrub, stream=out), out  # type: ignore[arg-type]


@pytest.mark.usefixtures("restore_root")
def test_json_is_one_object_per_line_with_the_fields() -> None:
    logging_setup, out = setup("json")
    log.info(
        "applied %s",
        "storage",
        extra={
            "event": "applied",
            "stack": "storage",
            "commit": "abc123",
            "run_id": "r1",
            "duration_s": 1.25,
        },
    )
    log.warning("multi\nline message")
    log.debug("not shown at INFO")
    logging_setup.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["message"] == "applied storage"
    assert first["level"] == "info"
    assert first["logger"] == "infra_gitops.daemon.test"
    assert first["time"].endswith("+00:00")
    assert {k: first[k] for k in ("event", "stack", "commit", "run_id", "duration_s")} == {
        "event": "applied",
        "stack": "storage",
        "commit": "abc123",
        "run_id": "r1",
        "duration_s": 1.25,
    }
    assert second["message"] == "multi\nline message"


@pytest.mark.usefixtures("restore_root")
def test_secrets_are_scrubbed_from_message_args_fields_and_tracebacks() -> None:
    logging_setup, out = setup("json")
    log.info("connecting with %s", SECRET, extra={"event": "x", "detail": {"pw": SECRET}})
    log.info(f'inline {SECRET} and quoted "{SECRET}"')
    try:
        raise RuntimeError(f"failed with {SECRET}")
    except RuntimeError:
        log.exception("it broke")
    logging_setup.close()
    text = out.getvalue()
    assert SECRET not in text
    records = [json.loads(line) for line in text.splitlines()]
    assert len(records) == 3
    assert records[0]["message"] == f"connecting with {SENSITIVE_MARKER}"
    assert records[0]["detail"] == {"pw": SENSITIVE_MARKER}
    assert "RuntimeError: failed with" in records[2]["exc"]


@pytest.mark.usefixtures("restore_root")
def test_secrets_added_later_are_scrubbed_too() -> None:
    logging_setup, out = setup("text", scrub=())
    logging_setup.add_secrets(["later-known-token"])
    log.info("token is later-known-token")
    logging_setup.close()
    assert "later-known-token" not in out.getvalue()
    assert SENSITIVE_MARKER in out.getvalue()


@pytest.mark.usefixtures("restore_root")
def test_text_lines_carry_fields_as_key_value() -> None:
    logging_setup, out = setup("text")
    log.info("drift found", extra={"stack": "storage", "event": "drift", "note": "two words"})
    logging_setup.close()
    line = out.getvalue().strip()
    assert " INFO infra_gitops.daemon.test: drift found " in line
    assert "stack=storage" in line and "event=drift" in line and 'note="two words"' in line


@pytest.mark.usefixtures("restore_root")
def test_configuring_again_replaces_the_handler() -> None:
    _, first = setup("text")
    second_setup, second = setup("json")
    log.info("once")
    second_setup.close()
    assert first.getvalue() == ""
    assert json.loads(second.getvalue())["message"] == "once"


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="'text' or 'json'"):
        configure_logging("yaml", level="INFO")  # type: ignore[arg-type]


FORGED = "2026-12-01T10:00:00.000+00:00 INFO infra_gitops.daemon: applied storage"


@pytest.mark.usefixtures("restore_root")
def test_foreign_text_cannot_forge_a_text_line() -> None:
    logging_setup, out = setup("text")
    branch = f"main\n{FORGED}"
    log.info("reconcile requested: push to %s", branch, extra={"ref": branch, "who": "a\rb"})
    log.info("bell\x07 escape\x1b[2J nel\x85 separator\u2028 end")
    try:
        raise RuntimeError(f"bad ref {branch}")
    except RuntimeError:
        log.exception("webhook for %s failed", branch)
    logging_setup.close()

    lines = out.getvalue().splitlines()
    records = [line for line in lines if not line.startswith(" ")]
    assert len(records) == 3  # the traceback's lines are indented under the third
    assert not any(line.startswith(FORGED) for line in lines)
    assert f"push to main\\n{FORGED} " in records[0]
    assert f'ref="main\\n{FORGED}"' in records[0] and 'who="a\\rb"' in records[0]
    assert records[1].endswith(r"bell\x07 escape\x1b[2J nel\x85 separator\u2028 end")
    # An exception's own lines stay lines of the traceback, under the record.
    assert lines[-2:] == ["  RuntimeError: bad ref main", f"  {FORGED}"]
