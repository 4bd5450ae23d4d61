"""The manifest as a whole: examples, every problem at once, lookup (manifest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from config_helpers import FULL, MANIFESTS, make_repo
from jsonschema import Draft202012Validator

from infra_gitops.config import (
    ConfigError,
    Manifest,
    load_manifest,
    load_schema,
    validate_manifest,
)


@pytest.mark.parametrize("example", sorted(MANIFESTS.glob("valid*")), ids=lambda p: p.name)
def test_every_valid_example_validates_against_the_schema_and_loads(example: Path) -> None:
    data = yaml.safe_load((example / "gitops.yaml").read_text())

    assert list(Draft202012Validator(load_schema()).iter_errors(data)) == []
    assert validate_manifest(example) == []
    assert isinstance(load_manifest(example), Manifest)


def test_valid_examples_exist() -> None:
    assert len(list(MANIFESTS.glob("valid*/gitops.yaml"))) >= 3


def test_all_problems_are_reported_at_once_in_file_order(tmp_path: Path) -> None:
    example = MANIFESTS / "invalid-many"

    with pytest.raises(ConfigError) as caught:
        load_manifest(example)

    expected = (example / "expected.txt").read_text().format(root=example.absolute())
    assert str(caught.value) == expected.rstrip("\n")
    assert [p.line for p in caught.value.problems] == [3, 7, 10, 12, 13, 14]


def test_stack_lookup_names_the_known_stacks(tmp_path: Path) -> None:
    make_repo(tmp_path, FULL, ("stacks/network", "stacks/storage"))
    manifest = load_manifest(tmp_path)

    with pytest.raises(ConfigError) as caught:
        manifest.stack("storag")

    assert str(caught.value) == (
        "unknown stack 'storag' (did you mean 'storage'?); known stacks: network, storage"
    )
    assert manifest.names == ("network", "storage")
    assert manifest.root == tmp_path
