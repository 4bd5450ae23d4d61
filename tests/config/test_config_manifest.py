"""The manifest as a whole: examples, every problem at once, lookup (manifest.py)."""

from __future__ import annotations

import time
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


def test_a_manifest_of_thousands_of_stacks_loads_in_linear_time(tmp_path: Path) -> None:
    # Each stack depends on the one before (the longest chain the cycle check can walk)
    # and every lookup by name is made: nothing may compare all pairs of stacks.
    count = 4_000
    names = [f"s{i}" for i in range(count)]
    lines = ["version: 1", "stacks:"]
    for i, name in enumerate(names):
        lines += [f"  - name: {name}", f"    path: stacks/{name}"]
        if i:
            lines.append(f"    depends_on: [{names[i - 1]}]")
    make_repo(tmp_path, "\n".join(lines) + "\n", tuple(f"stacks/{n}" for n in names))

    started = time.perf_counter()
    manifest = load_manifest(tmp_path)
    found = [manifest.stack(name).name for name in names]
    elapsed = time.perf_counter() - started

    assert found == names and list(manifest.names) == names
    assert manifest.declares(names[-1]) and not manifest.declares("s-none")
    # A guard against a quadratic step (about 1 s here), not a timing target.
    assert elapsed < 30, f"{elapsed:.1f} s"
