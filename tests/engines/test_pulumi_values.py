"""Pulumi property values: secrets, unknowns, bookkeeping keys, property paths."""

from __future__ import annotations

import pytest

from infra_gitops.engines.pulumi_values import (
    MASKED,
    SECRET_SIG,
    SECRET_SIG_KEY,
    UNKNOWN,
    clean,
    config_text,
    diff_paths,
    dotted_path,
)
from infra_gitops.models import SENSITIVE_MARKER
from infra_gitops.redaction import Scrubber


def secret(plaintext: str | None = None) -> dict:
    value = {SECRET_SIG_KEY: SECRET_SIG}
    value["plaintext" if plaintext is not None else "ciphertext"] = plaintext or "AAAbase64"
    return value


def test_secrets_unknowns_and_bookkeeping_are_cleaned() -> None:
    found: set[str] = set()
    value = {
        "__defaults": ["name"],
        "password": secret('"hunter2-long"'),
        "token": MASKED,
        "arn": UNKNOWN,
        "tags": {"__defaults": [], "env": "dev"},
        "list": [secret(), 3, True],
    }
    assert clean(value, Scrubber(()), found) == {
        "password": SENSITIVE_MARKER,
        "token": SENSITIVE_MARKER,
        "arn": None,
        "tags": {"env": "dev"},
        "list": [SENSITIVE_MARKER, 3, True],
    }
    # The secret's plaintext is JSON: both forms are collected for scrubbing elsewhere.
    assert {'"hunter2-long"', "hunter2-long"} <= found


def test_known_secrets_are_scrubbed_inside_strings_and_keys() -> None:
    scrubber = Scrubber(["s3cr3t-value"])
    cleaned = clean({"url": "https://x/?t=s3cr3t-value", "s3cr3t-value": 1}, scrubber)
    assert cleaned == {
        "url": f"https://x/?t={SENSITIVE_MARKER}",
        SENSITIVE_MARKER: 1,
    }


@pytest.mark.parametrize(
    ("pulumi_path", "dotted"),
    [
        ("tags.env", "tags.env"),
        ("rules[0].port", "rules.0.port"),
        ('tags["a.b"]', "tags.a.b"),
        ('["root key"].x', "root key.x"),
        ("items[*].name", "items.*.name"),
        ("visibilityTimeoutSeconds", "visibilityTimeoutSeconds"),
    ],
)
def test_property_paths_become_dotted(pulumi_path: str, dotted: str) -> None:
    assert dotted_path(pulumi_path) == dotted


def test_an_unparseable_path_is_kept_as_is() -> None:
    assert dotted_path('tags["unterminated') == 'tags["unterminated'


def test_diff_paths_lists_changed_leaves_added_and_removed_keys() -> None:
    before = {"a": 1, "tags": {"env": "dev", "old": "x"}, "ports": [80, 443]}
    after = {"a": 1, "tags": {"env": "prod", "new": "y"}, "ports": [80, 8443]}
    assert diff_paths(before, after) == ("ports.1", "tags.env", "tags.new", "tags.old")
    assert diff_paths({"x": [1]}, {"x": [1, 2]}) == ("x",)
    assert diff_paths(before, before) == ()


def test_config_values_are_strings_structured_ones_json() -> None:
    assert config_text("plain") == "plain"
    assert config_text(30) == "30"
    assert config_text(True) == "true"
    assert config_text({"env": "dev"}) == '{"env": "dev"}'
