"""Logging for the daemon: text for people, one JSON object per line for log pipelines
(--log-format json), with known secrets scrubbed before anything is written.

Structured facts travel as `extra=` fields (event, stack, commit, run_id, duration_s...):
JSON lines carry them as keys, text lines append them as key=value.

Messages and fields carry foreign text (a branch or pusher name from a webhook, a commit
message, an HTTP request line): in text lines, line breaks and other control characters
in them are escaped, so that no value can start a line that looks like a record of its
own. A traceback's lines follow its record indented, for the same reason.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from infra_gitops.redaction import Scrubber, ScrubbingFilter

LogFormat = Literal["text", "json"]

# Attributes every LogRecord has: anything else on a record came from `extra=`.
_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
    | {"message", "asctime", "taskName"}
)


class LoggingSetup:
    """The installed handler; add_secrets() when more become known (a manifest loaded),
    close() to remove it again (tests, or a second configure)."""

    def __init__(self, handler: logging.Handler, scrub_filter: ScrubbingFilter) -> None:
        self.handler = handler
        self._filter = scrub_filter

    def add_secrets(self, secrets: Iterable[str]) -> None:
        # One assignment: a record being formatted on another thread sees the old or the
        # new scrubber, both complete.
        self._filter.scrubber = self._filter.scrubber.with_secrets(secrets)

    def close(self) -> None:
        logging.getLogger().removeHandler(self.handler)
        self.handler.close()


def configure_logging(
    fmt: LogFormat,
    *,
    level: int | str = logging.INFO,
    scrub: Iterable[str] = (),
    stream: TextIO | None = None,
) -> LoggingSetup:
    """Send every log record (ours and libraries') to stream (default stderr) in fmt.

    Calling it again replaces the handler a previous call installed.
    """
    if fmt not in ("text", "json"):
        raise ValueError(f"log format must be 'text' or 'json', got {fmt!r}")
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_infra_gitops", False)]:
        root.removeHandler(old)
        old.close()
    # Known secrets are scrubbed whatever their length: the caller says they are secrets.
    scrub_filter = ScrubbingFilter(Scrubber(scrub, min_length=1))
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler._infra_gitops = True  # type: ignore[attr-defined]
    handler.addFilter(scrub_filter)
    handler.setFormatter(
        JsonFormatter(scrub_filter) if fmt == "json" else TextFormatter(scrub_filter)
    )
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    return LoggingSetup(handler, scrub_filter)


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


def _time(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    """{"time", "level", "logger", "message", ...extra fields, "exc"?} on one line."""

    def __init__(self, scrub_filter: ScrubbingFilter) -> None:
        super().__init__()
        self._filter = scrub_filter

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": _time(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in extra_fields(record).items():
            data.setdefault(key, value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            data["exc"] = record.exc_text
        # The filter scrubbed message and traceback; extra fields are scrubbed here,
        # on the whole line, so no field can carry a secret out.
        line = json.dumps(data, default=str, ensure_ascii=False)
        return self._filter.scrubber.scrub(line)


class TextFormatter(logging.Formatter):
    """2026-11-23T17:44:00.123+00:00 INFO infra_gitops.daemon: message key=value ..."""

    def __init__(self, scrub_filter: ScrubbingFilter) -> None:
        super().__init__()
        self._filter = scrub_filter

    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{k}={_text_value(v)}" for k, v in extra_fields(record).items())
        message = escape_controls(record.getMessage())
        line = f"{_time(record)} {record.levelname} {record.name}: {message}"
        if fields:
            line = f"{line} {fields}"
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            traceback = "\n".join(
                f"  {escape_controls(part)}" for part in record.exc_text.split("\n")
            )
            line = f"{line}\n{traceback}"
        return self._filter.scrubber.scrub(line)


# C0 controls (newline, carriage return, escape ...), DEL, C1 controls (NEL among them)
# and Unicode's own line and paragraph separators: all end or rewrite a line somewhere.
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape_controls(text: str) -> str:
    """text with control characters as escapes (\\n, \\r, \\t, \\x1b, \\u2028)."""
    return _CONTROLS.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
    if char in named:
        return named[char]
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def _text_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    # JSON quoting escapes every control character (and all non-ASCII).
    return json.dumps(text) if (" " in text or not text or _CONTROLS.search(text)) else text
