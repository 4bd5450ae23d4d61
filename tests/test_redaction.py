from __future__ import annotations

import io
import json
import logging
from types import MappingProxyType
from typing import Any

from infra_gitops.models import SENSITIVE_MARKER
from infra_gitops.redaction import Scrubber, ScrubbingFilter

M = SENSITIVE_MARKER


def test_every_occurrence_of_every_secret_is_replaced() -> None:
    scrubber = Scrubber(["hunter22", "AKIAEXAMPLEKEY"])
    text = "password=hunter22 key=AKIAEXAMPLEKEY again hunter22"
    assert scrubber.scrub(text) == f"password={M} key={M} again {M}"


def test_longest_secret_wins_when_one_contains_another() -> None:
    scrubber = Scrubber(["pass", "password-123"])
    assert scrubber.scrub("x password-123 y pass z") == f"x {M} y {M} z"


def test_short_and_empty_values_are_not_scrubbed() -> None:
    scrubber = Scrubber(["", "a", "on", "dev"])
    text = "a dev environment is on"
    assert scrubber.scrub(text) == text
    assert not scrubber


def test_regex_characters_in_secrets_are_literal() -> None:
    scrubber = Scrubber(["a.b*c(d)"])
    assert scrubber.scrub("a.b*c(d) axbbbc(d)") == f"{M} axbbbc(d)"


def test_secret_is_found_in_json_text_where_it_is_escaped() -> None:
    secret = 'p"ss\\word\nline2'
    scrubber = Scrubber([secret])
    dumped = json.dumps({"value": secret})
    assert secret not in scrubber.scrub(dumped)
    assert "word" not in scrubber.scrub(dumped)


def test_scrub_json_reaches_nested_strings_and_keys_and_keeps_other_values() -> None:
    scrubber = Scrubber(["s3cr3t-value"])
    data: dict[str, Any] = {
        "a": ["x s3cr3t-value y", 3, None, True],
        "b": {"s3cr3t-value": ("s3cr3t-value",)},
        "c": 1.5,
    }
    assert scrubber.scrub_json(data) == {
        "a": [f"x {M} y", 3, None, True],
        "b": {M: (M,)},
        "c": 1.5,
    }
    assert data["a"][0] == "x s3cr3t-value y"  # the input is not modified


def test_scrub_json_accepts_read_only_mappings() -> None:
    scrubber = Scrubber(["s3cr3t-value"])
    assert scrubber.scrub_json(MappingProxyType({"k": "s3cr3t-value"})) == {"k": M}


def test_with_secrets_adds_to_the_existing_ones() -> None:
    scrubber = Scrubber(["first-secret"]).with_secrets(["second-secret"])
    assert scrubber.scrub("first-secret second-secret") == f"{M} {M}"


def test_logging_filter_scrubs_message_arguments_and_traceback() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ScrubbingFilter(Scrubber(["tok-123456"])))
    logger = logging.getLogger("test_redaction.filter")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("token %s in %s", "tok-123456", "url?t=tok-123456")
        try:
            raise RuntimeError("failed with tok-123456")
        except RuntimeError:
            logger.exception("boom")
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    assert "tok-123456" not in output
    assert f"token {M} in url?t={M}" in output
    assert f"RuntimeError: failed with {M}" in output
